// Who may do what with a document. Pure: the document actor and the REST
// API both decide with this one function.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace stet::auth {

enum class role { none, viewer, editor, owner };

struct document_access {
  /// 0: created by an anonymous session; such documents are open to all.
  std::int64_t owner_id = 0;
  bool is_public = false;
  /// user id -> viewer | editor
  std::map<std::int64_t, role> grants;
};

/// The role of `user_id` (0 = anonymous) on a document.
role role_of(const document_access& doc, std::int64_t user_id);

inline bool can_view(role r) {
  return r != role::none;
}
inline bool can_edit(role r) {
  return r == role::editor || r == role::owner;
}

std::string_view to_string(role r);
/// "viewer" | "editor"; anything else is role::none.
role parse_grant(std::string_view name);

} // namespace stet::auth
