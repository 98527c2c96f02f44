#include "gateway/token_epochs.hpp"

#include "actors/messages.hpp"

#include <caf/send.hpp>

#include <algorithm>

namespace stet {

std::optional<std::int64_t> token_epochs::known(std::int64_t user_id) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = users_.find(user_id);
  if (it == users_.end())
    return std::nullopt;
  auto& e = it->second;
  if (!e.revoked && std::chrono::steady_clock::now() - e.read_at > fresh_for_)
    return std::nullopt;
  return e.epoch;
}

void token_epochs::learn(std::int64_t user_id, std::int64_t epoch, bool revoked) {
  std::vector<caf::actor> tell;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& e = users_[user_id];
    if (epoch > e.epoch)
      tell = e.sessions;
    e.epoch = std::max(e.epoch, epoch);
    e.read_at = std::chrono::steady_clock::now();
    e.revoked = e.revoked || revoked;
    // Bounded by the users seen lately: forget idle ones now and then.
    if (users_.size() > 100'000)
      std::erase_if(users_, [&](auto& kv) { return kv.second.sessions.empty() && !kv.second.revoked; });
  }
  for (auto& s : tell)
    caf::anon_send(s, token_atom::value, epoch);
}

void token_epochs::attach(std::int64_t user_id, const caf::actor& session) {
  std::lock_guard<std::mutex> guard{mutex_};
  users_[user_id].sessions.push_back(session);
}

void token_epochs::detach(std::int64_t user_id, const caf::actor& session) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = users_.find(user_id);
  if (it == users_.end())
    return;
  auto& v = it->second.sessions;
  v.erase(std::remove(v.begin(), v.end(), session), v.end());
}

std::vector<std::int64_t> token_epochs::users() {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::int64_t> out;
  for (auto& [user, e] : users_)
    if (!e.sessions.empty())
      out.push_back(user);
  return out;
}

} // namespace stet
