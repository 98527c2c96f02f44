#include "gateway/session_list.hpp"

#include "actors/messages.hpp"

#include <caf/send.hpp>

#include <vector>

namespace stet {

void session_list::add(const void* key, caf::actor actor, std::function<void()> close) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_[key] = {std::move(actor), std::move(close)};
}

void session_list::remove(const void* key) {
  std::lock_guard<std::mutex> guard{mutex_};
  sessions_.erase(key);
}

void session_list::close_all() {
  std::unordered_map<const void*, entry> all;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    all.swap(sessions_);
  }
  for (auto& [key, e] : all) {
    e.close();
    caf::anon_send(e.actor, closed_atom::value);
  }
}

} // namespace stet
