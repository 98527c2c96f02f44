#include "actors/storage_requests.hpp"

#include <algorithm>

namespace stet {

auth::document_access access_of(const storage::document_row& row, const storage::acl_snapshot& acl) {
  auth::document_access out{row.owner_id, row.is_public, {}, acl.version};
  for (auto& a : acl.entries)
    out.grants[a.user_id] = auth::parse_grant(a.role);
  return out;
}

result<loaded_document> load(storage::store& s, const load_request& req) {
  auto found = s.find_document(req.doc_id);
  if (!found)
    return found.error();
  loaded_document out;
  if (*found) {
    out.row = std::move(**found);
  } else if (req.create) {
    storage::document_row row;
    row.id = req.doc_id;
    row.policy = req.policy;
    row.owner_id = req.owner_id;
    auto created = s.create_document(row);
    if (!created)
      return created.error();
    out.row = std::move(*created);
  } else {
    return make_error(errc::unknown_document, "no document with id " + req.doc_id);
  }
  if (!req.lease_node.empty()) {
    // Taking the lease fences every commit of a previous owner.
    auto epoch = s.acquire_lease(req.doc_id, req.lease_node);
    if (!epoch)
      return epoch.error();
    out.row.owner_epoch = *epoch;
  }
  auto ops = s.ops_since(req.doc_id, 0);
  if (!ops)
    return ops.error();
  out.ops = std::move(*ops);
  auto clients = s.client_seqs(req.doc_id);
  if (!clients)
    return clients.error();
  out.clients = std::move(*clients);
  auto acl = s.access_list(req.doc_id);
  if (!acl)
    return acl.error();
  out.acl = std::move(*acl);
  return out;
}

result<loaded_document> read_access(storage::store& s, const std::string& doc_id) {
  auto found = s.find_document(doc_id);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(errc::unknown_document, "document " + doc_id + " was deleted");
  loaded_document out;
  out.row = std::move(**found);
  auto acl = s.access_list(doc_id);
  if (!acl)
    return acl.error();
  out.acl = std::move(*acl);
  return out;
}

result<visible_document> open_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                 const std::string& scoped_role) {
  auto doc = read_access(s, doc_id);
  if (!doc) {
    if (doc.error().code == errc::unknown_document)
      return make_error(errc::unknown_document, "no document with id " + doc_id);
    return doc.error();
  }
  // A token scoped to documents grants exactly its scope.
  auto role = scoped_role.empty() ? auth::role_of(access_of(doc->row, doc->acl), user) : auth::parse_role(scoped_role);
  if (!auth::can_view(role))
    return make_error(errc::unknown_document, "no document with id " + doc_id);
  return visible_document{std::move(doc->row), role};
}

result<std::vector<visible_document>> list_for(storage::store& s, std::int64_t user) {
  auto docs = s.list_documents(user);
  if (!docs)
    return docs.error();
  std::vector<visible_document> out;
  out.reserve(docs->size());
  for (auto& d : *docs)
    out.push_back({std::move(d.row), d.role == "owner" ? auth::role::owner : auth::parse_grant(d.role)});
  return out;
}

namespace {

status require_owner(const visible_document& d, std::string_view what) {
  if (d.role == auth::role::owner)
    return ok();
  return make_error(errc::forbidden, "only the document's owner may " + std::string{what});
}

} // namespace

status delete_as(storage::store& s, const std::string& doc_id, std::int64_t user, const std::string& scoped_role) {
  auto doc = open_as(s, doc_id, user, scoped_role);
  if (!doc)
    return doc.error();
  if (auto st = require_owner(*doc, "delete it"); !st)
    return st;
  return s.delete_document(doc_id);
}

result<share_result> share_as(storage::store& s, const share_request& req) {
  auto doc = open_as(s, req.doc_id, req.caller, req.scoped_role);
  if (!doc)
    return doc.error();
  if (auto st = require_owner(*doc, "share it"); !st)
    return st.error();
  auto user = s.find_user(req.username);
  if (!user)
    return user.error();
  if (!*user)
    return make_error(errc::invalid_argument, "no user named " + req.username);
  if ((*user)->id == doc->row.owner_id)
    return make_error(errc::invalid_argument, "the owner already has every right");
  auto version = s.set_role(req.doc_id, (*user)->id, req.role);
  if (!version)
    return version.error();
  return share_result{(*user)->id, *version};
}

result<document_history> history_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                    const std::string& scoped_role) {
  auto doc = open_as(s, doc_id, user, scoped_role);
  if (!doc)
    return doc.error();
  auto rows = s.history(doc_id);
  if (!rows)
    return rows.error();
  return document_history{doc->row.rev, std::move(*rows)};
}

result<storage::version_row> name_version_as(storage::store& s, const storage::version_row& v,
                                             const std::string& scoped_role) {
  auto doc = open_as(s, v.doc_id, v.author_id, scoped_role);
  if (!doc)
    return doc.error();
  if (!auth::can_edit(doc->role))
    return make_error(errc::forbidden, "you may not name versions of document " + v.doc_id);
  return s.create_version(v);
}

result<std::vector<storage::version_row>> versions_as(storage::store& s, const std::string& doc_id,
                                                      std::int64_t user, const std::string& scoped_role) {
  if (auto doc = open_as(s, doc_id, user, scoped_role); !doc)
    return doc.error();
  return s.list_versions(doc_id);
}

result<storage::version_row> version_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                                        const std::string& scoped_role, std::int64_t id) {
  if (auto doc = open_as(s, doc_id, user, scoped_role); !doc)
    return doc.error();
  auto v = s.find_version(doc_id, id);
  if (!v)
    return v.error();
  if (!*v)
    return make_error(errc::unknown_document, "document " + doc_id + " has no version " + std::to_string(id));
  return std::move(**v);
}

status delete_version_as(storage::store& s, const std::string& doc_id, std::int64_t user,
                         const std::string& scoped_role, std::int64_t id) {
  auto doc = open_as(s, doc_id, user, scoped_role);
  if (!doc)
    return doc.error();
  // The list holds no text: who wrote it is known without reading it.
  auto listed = s.list_versions(doc_id);
  if (!listed)
    return listed.error();
  auto v = std::find_if(listed->begin(), listed->end(), [&](const storage::version_row& r) { return r.id == id; });
  if (v == listed->end())
    return make_error(errc::unknown_document, "document " + doc_id + " has no version " + std::to_string(id));
  // Signed-in authors only: on a document without an owner everyone may
  // edit, and a version is what a vandal's edits are undone from.
  bool author = user != 0 && v->author_id == user && auth::can_edit(doc->role);
  if (doc->role != auth::role::owner && !author)
    return make_error(errc::forbidden, "only the owner of document " + doc_id + " or the version's author may delete it");
  auto gone = s.delete_version(doc_id, id);
  if (!gone)
    return gone.error();
  if (!*gone)
    return make_error(errc::unknown_document, "document " + doc_id + " has no version " + std::to_string(id));
  return ok();
}

result<storage::user_row> user_by_id(storage::store& s, std::int64_t id) {
  auto user = s.find_user_by_id(id);
  if (!user)
    return user.error();
  if (!*user)
    return make_error(errc::unauthorized, "the account was deleted");
  return std::move(**user);
}

} // namespace stet
