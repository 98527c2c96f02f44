#include "auth/access.hpp"

namespace stet::auth {

role role_of(const document_access& doc, std::int64_t user_id) {
  if (doc.owner_id == 0)
    return role::editor;
  if (user_id != 0 && user_id == doc.owner_id)
    return role::owner;
  if (user_id != 0)
    if (auto it = doc.grants.find(user_id); it != doc.grants.end())
      return it->second;
  return doc.is_public ? role::viewer : role::none;
}

std::string_view to_string(role r) {
  switch (r) {
    case role::viewer: return "viewer";
    case role::editor: return "editor";
    case role::owner: return "owner";
    case role::none: break;
  }
  return "none";
}

role parse_grant(std::string_view name) {
  if (name == "viewer")
    return role::viewer;
  if (name == "editor")
    return role::editor;
  return role::none;
}

} // namespace stet::auth
