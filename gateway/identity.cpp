#include "gateway/identity.hpp"

namespace stet {

std::string external_ids::key(const std::string& issuer, const std::string& subject) {
  // No claim holds a control character (jwt.cpp refuses them), so "\n"
  // cannot be forged into either part.
  return issuer + "\n" + subject;
}

std::optional<std::int64_t> external_ids::find(const std::string& issuer, const std::string& subject) {
  std::lock_guard lock{mutex_};
  auto it = ids_.find(key(issuer, subject));
  if (it == ids_.end())
    return std::nullopt;
  return it->second;
}

void external_ids::remember(const std::string& issuer, const std::string& subject, std::int64_t user_id) {
  std::lock_guard lock{mutex_};
  if (ids_.size() >= capacity_)
    ids_.clear(); // a read per user refills it; cheaper than tracking age
  ids_[key(issuer, subject)] = user_id;
}

void external_ids::forget(std::int64_t user_id) {
  std::lock_guard lock{mutex_};
  std::erase_if(ids_, [&](const auto& e) { return e.second == user_id; });
}

result<auth::claims> check_token(const auth::token_signer& signer, const auth::jwt_verifier* jwt,
                                 std::string_view token, std::int64_t now) {
  if (!jwt || !auth::looks_like_jwt(token))
    return signer.verify(token, now);
  auto id = jwt->verify(token, now);
  if (!id)
    return id.error();
  auth::claims c;
  c.username = std::move(id->display_name);
  c.expires_at = id->expires_at;
  c.external = true;
  c.issuer = std::move(id->issuer);
  c.subject = std::move(id->subject);
  c.scope = std::move(id->scope);
  return c;
}

} // namespace stet
