// Who may do what with a document. Pure: the document actor and the REST
// API both decide with this one function.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace stet::auth {

enum class role { none, viewer, commenter, editor, owner };

struct document_access {
  /// 0: created by an anonymous session; such documents are open to all.
  std::int64_t owner_id = 0;
  bool is_public = false;
  /// user id -> viewer | commenter | editor
  std::map<std::int64_t, role> grants;
  /// The stored access list's version `grants` was read at.
  std::uint64_t version = 0;
};

/// An open document's view of who may open it: its last read of the stored
/// list, with the changes heard since on top. Every node that stores a
/// change publishes it on its own, so changes arrive in any order, and a
/// read may answer after changes newer than it were heard; each change
/// carries the list's version it made, and per user the newest one wins.
class access_tracker {
public:
  explicit access_tracker(document_access read = {}) : current_(std::move(read)) {
  }
  const document_access& current() const noexcept {
    return current_;
  }
  /// A change heard of (role::none: revoked). False when the last read or
  /// a change heard before is newer: nothing changed.
  bool hear(std::int64_t user_id, role grant, std::uint64_t version);
  /// A fresh read of the stored list. Changes heard that are newer than
  /// it stay on top; a read older than the last one is ignored.
  void reread(document_access read);

private:
  struct heard {
    std::uint64_t version;
    role grant;
  };
  document_access current_;
  std::map<std::int64_t, heard> heard_; // newer than current_.version
};

/// The role of `user_id` (0 = anonymous) on a document.
role role_of(const document_access& doc, std::int64_t user_id);

inline bool can_view(role r) {
  return r != role::none;
}
inline bool can_edit(role r) {
  return r == role::editor || r == role::owner;
}
/// Commenters may comment on a document they may not edit.
inline bool can_comment(role r) {
  return r == role::commenter || can_edit(r);
}

std::string_view to_string(role r);
/// "viewer" | "commenter" | "editor"; anything else is role::none.
role parse_grant(std::string_view name);
/// "owner" | "editor" | "commenter" | "viewer" (what a token's scope may grant).
role parse_role(std::string_view name);

} // namespace stet::auth
