#include "actors/presence_batch.hpp"

#include <algorithm>
#include <utility>

namespace stet {

void presence_batch::add(std::string origin_session, wire::Presence p) {
  auto same_client = [&](const change& c) { return c.presence.client_id() == p.client_id(); };
  if (auto it = std::find_if(pending_.begin(), pending_.end(), same_client); it != pending_.end())
    *it = change{std::move(origin_session), std::move(p)};
  else
    pending_.push_back(change{std::move(origin_session), std::move(p)});
}

std::optional<presence_batch::clock::time_point> presence_batch::due(clock::time_point now) const {
  if (pending_.empty())
    return std::nullopt;
  bool cursor_moved = std::any_of(pending_.begin(), pending_.end(), [](auto& c) { return c.presence.has_cursor(); });
  auto interval = cursor_moved ? cursor_interval_ : roster_interval_;
  if (!last_take_ || now - *last_take_ >= interval)
    return now;
  return *last_take_ + interval;
}

std::vector<presence_batch::change> presence_batch::take(clock::time_point now) {
  last_take_ = now;
  return std::exchange(pending_, {});
}

} // namespace stet
