// What the storage actor does with its store for each request that is more
// than one store call: loading a document (creating it, taking its lease),
// reading who may open it, and the REST API's requests with the permission
// rules they apply. Plain functions over a store, run on the storage
// actor's thread; tested against both backends through the actor.
#pragma once

#include "actors/messages.hpp"

namespace stet {

/// Who may open a document, from its row and access list: the one place
/// that turns stored grants into roles.
auth::document_access access_of(const storage::document_row& row, const storage::acl_snapshot& acl);

/// Loads a document for its actor (see load_request). Errors:
/// unknown_document (absent, and not to be created; or deleted).
result<loaded_document> load(storage::store& s, const load_request& req);

/// The row and access list of a document, read in that order (an owner or
/// visibility change is never labelled with an older list version).
/// Errors: unknown_document when it was deleted.
result<loaded_document> read_access(storage::store& s, const std::string& doc_id);

/// The document and `user`'s role on it. Errors: unknown_document when it
/// does not exist or `user` may not see it (never forbidden: whether a
/// document exists is not told to those who may not see it).
result<visible_document> open_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                 const std::string& scoped_role = {});

/// Documents `user` owns or was given a role on, newest first, with the role.
result<std::vector<visible_document>> list_for(storage::store& s, std::int64_t user);

/// Deletes a document `user` owns. Errors: as open_as; forbidden when
/// `user` is not its owner.
status delete_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                 const std::string& scoped_role = {});

/// Gives (or takes away) a role. Errors: as open_as; forbidden when the
/// caller is not the owner; invalid_argument for an unknown user or the
/// owner.
result<share_result> share_as(storage::store& s, const share_request& req);

/// The revision and history of a document `user` may see. Errors: as open_as.
result<document_history> history_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                    const std::string& scoped_role = {});

/// Stores a named version of a document the caller (`v.author_id`) may
/// edit. Errors: as open_as; forbidden for viewers; as create_version.
result<storage::version_row> name_version_as(storage::store& s, const storage::version_row& v,
                                             const std::string& scoped_role = {});

/// The versions of a document `user` may see, without their text.
result<std::vector<storage::version_row>> versions_as(storage::store& s, const std::string& doc_id,
                                                      std::int64_t user, const std::string& scoped_role = {});

/// One version with its text. Errors: as open_as; unknown_document when
/// the document has no version `id`.
result<storage::version_row> version_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                        const std::string& scoped_role, std::int64_t id);

/// Deletes a version. Errors: as version_as; forbidden unless the caller
/// owns the document, or wrote the version (signed in) and may edit it.
status delete_version_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                         const std::string& scoped_role, std::int64_t id);

/// The user with `id`. Errors: unauthorized when the account is gone.
result<storage::user_row> user_by_id(storage::store& s, std::int64_t id);

} // namespace stet
