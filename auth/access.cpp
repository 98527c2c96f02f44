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

namespace {

void apply(document_access& access, std::int64_t user_id, role grant) {
  if (grant == role::none)
    access.grants.erase(user_id);
  else
    access.grants[user_id] = grant;
}

} // namespace

bool access_tracker::hear(std::int64_t user_id, role grant, std::uint64_t version) {
  if (version <= current_.version)
    return false;
  auto [it, fresh] = heard_.try_emplace(user_id, heard{version, grant});
  if (!fresh) {
    if (version <= it->second.version)
      return false;
    it->second = {version, grant};
  }
  apply(current_, user_id, grant);
  return true;
}

void access_tracker::reread(document_access read) {
  if (read.version < current_.version)
    return;
  current_ = std::move(read);
  std::erase_if(heard_, [&](const auto& h) { return h.second.version <= current_.version; });
  for (auto& [user, h] : heard_)
    apply(current_, user, h.grant);
}

std::string_view to_string(role r) {
  switch (r) {
    case role::viewer: return "viewer";
    case role::commenter: return "commenter";
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
  if (name == "commenter")
    return role::commenter;
  return role::none;
}

role parse_role(std::string_view name) {
  return name == "owner" ? role::owner : parse_grant(name);
}

} // namespace stet::auth
