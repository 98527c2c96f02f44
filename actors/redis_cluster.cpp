#include "actors/redis_cluster.hpp"

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

namespace stet {

namespace {

constexpr std::chrono::seconds k_refresh_every{5};
constexpr std::chrono::milliseconds k_max_backoff{2000};

} // namespace

redis_cluster::redis_cluster(boost::asio::io_context& io, std::vector<redis_endpoint> seeds, redis_endpoint login)
  : io_(io), seeds_(std::move(seeds)), login_(std::move(login)), refresh_timer_(io) {
}

void redis_cluster::start() {
  stopped_ = false;
  update_state();
  refresh("starting");
}

void redis_cluster::stop() {
  stopped_ = true;
  refresh_timer_.cancel();
  for (auto& [slot, timer] : draining_)
    timer->cancel();
  draining_.clear();
  for (auto& [slot, waiting] : held_)
    for (auto& c : waiting)
      if (c.done)
        c.done(redis_reply{.ok = false, .error = "redis cluster stopped"});
  held_.clear();
  for (auto& [address, s] : shards_) {
    if (s.cmd)
      s.cmd->close();
    if (s.sub)
      s.sub->close();
  }
  shards_.clear();
  placed_.clear();
  up_ = false;
}

// -- the slot map --

void redis_cluster::refresh(const std::string& why) {
  if (stopped_)
    return;
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  refreshing_ = true;
  if (log::enabled(log::level::debug))
    log::debug("asking redis cluster for its slots", {{"why", why}});
  // The masters we know first (they know the newest map), then the seeds.
  std::vector<redis_endpoint> candidates;
  for (auto& [address, s] : shards_)
    candidates.push_back(s.at);
  for (auto seed : seeds_) {
    seed.username = login_.username;
    seed.password = login_.password;
    candidates.push_back(std::move(seed));
  }
  ask_for_slots(std::move(candidates), 0);
}

void redis_cluster::ask_for_slots(std::vector<redis_endpoint> candidates, std::size_t next) {
  if (stopped_)
    return;
  if (next >= candidates.size())
    return refreshed(std::nullopt);
  // A link of its own: a shard's command link may be the one in trouble.
  auto at = candidates[next];
  auto link = std::make_shared<resp_link>(io_, at);
  auto w = weak_from_this();
  // One outcome per candidate: a link that drops with CLUSTER NODES in
  // flight answers the command and closes; only the first goes on.
  auto done = std::make_shared<bool>(false);
  link->on_closed([w, candidates, next, done](const std::string&) {
    if (auto self = w.lock(); self && !std::exchange(*done, true))
      self->ask_for_slots(candidates, next + 1);
  });
  link->on_ready([w, weak_link = std::weak_ptr<resp_link>(link), candidates, next, host = at.host, done] {
    auto link = weak_link.lock();
    if (!link)
      return;
    link->command({"CLUSTER", "NODES"}, [w, link, candidates, next, host, done](const redis_reply& r) {
      link->close();
      auto self = w.lock();
      if (!self || std::exchange(*done, true))
        return;
      auto map = parse_cluster_nodes(r.ok ? r.str : std::string{}, host);
      if (!r.ok || !map) {
        log::warn("cannot read the redis cluster's slots", {{"from", host}, {"error", r.ok ? map.error().message : r.error}});
        return self->ask_for_slots(candidates, next + 1);
      }
      self->refreshed(std::move(*map));
    });
  });
  link->start();
}

void redis_cluster::refreshed(std::optional<redis_slot_map> map) {
  refreshing_ = false;
  if (stopped_)
    return;
  if (map) {
    if (!map->complete())
      last_trouble_ = "some slots have no master";
    map_ = std::move(*map);
    reconcile();
  } else {
    last_trouble_ = "no node of the redis cluster answered";
    update_state();
  }
  if (refresh_again_) {
    refresh_again_ = false;
    return schedule_refresh(k_hop_delay);
  }
  schedule_refresh(up_ ? std::chrono::duration_cast<std::chrono::milliseconds>(k_refresh_every) : backoff_);
  if (!up_)
    backoff_ = std::min(backoff_ * 2, k_max_backoff);
}

void redis_cluster::schedule_refresh(std::chrono::milliseconds after) {
  if (stopped_)
    return;
  // An earlier deadline wins over a later one already set.
  if (refresh_timer_.expiry() > std::chrono::steady_clock::now()
      && refresh_timer_.expiry() <= std::chrono::steady_clock::now() + after)
    return;
  refresh_timer_.expires_after(after);
  refresh_timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec)
      self->refresh("scheduled");
  });
}

// Links to every master of the map, none to what is not one any more, and
// every channel subscribed where its slot lives.
void redis_cluster::reconcile() {
  auto masters = map_.masters();
  for (auto it = shards_.begin(); it != shards_.end();) {
    if (masters.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.cmd)
      it->second.cmd->close();
    if (it->second.sub)
      it->second.sub->close();
    for (auto p = placed_.begin(); p != placed_.end();)
      p = p->second == it->first ? placed_.erase(p) : std::next(p);
    it = shards_.erase(it);
  }
  auto now = std::chrono::steady_clock::now();
  for (auto& address : masters) {
    auto known = map_.nodes.find(address);
    if (known == map_.nodes.end())
      continue; // cannot happen: the map's masters are among its nodes
    auto& s = shard_at(known->second);
    if ((!s.cmd || !s.sub) && now >= s.retry_at)
      open_links(s);
  }
  for (auto& channel : wanted_)
    place(channel);
  update_state();
}

redis_cluster::shard& redis_cluster::shard_at(const redis_endpoint& at) {
  auto address = at.address();
  auto it = shards_.find(address);
  if (it != shards_.end())
    return it->second;
  auto& s = shards_[address];
  s.at = at;
  s.at.username = login_.username;
  s.at.password = login_.password;
  return s;
}

redis_cluster::shard* redis_cluster::shard_of_slot(int slot) {
  auto it = shards_.find(map_.owner[slot]);
  return it == shards_.end() ? nullptr : &it->second;
}

void redis_cluster::open_links(shard& s) {
  auto address = s.at.address();
  if (s.opened_before)
    metrics::get().shard_reconnected(address);
  s.opened_before = true;
  s.confirmed.clear();
  auto w = weak_from_this();
  for (auto* link : {&s.cmd, &s.sub}) {
    if (*link)
      (*link)->close();
    *link = std::make_shared<resp_link>(io_, s.at);
    (*link)->on_closed([w, address](const std::string& why) {
      if (auto self = w.lock())
        self->link_closed(address, why);
    });
  }
  s.cmd->on_ready([w, address] {
    if (auto self = w.lock()) {
      self->shards_.at(address).backoff = std::chrono::milliseconds{100};
      self->update_state();
    }
  });
  s.sub->on_push([w, address](const redis_reply& r) {
    if (auto self = w.lock())
      self->on_push(address, r);
  });
  s.sub->on_ready([w, address] {
    auto self = w.lock();
    if (!self)
      return;
    for (auto& channel : self->wanted_)
      if (auto p = self->placed_.find(channel); p != self->placed_.end() && p->second == address)
        self->ssubscribe(self->shards_.at(address), channel);
    self->update_state();
  });
  s.cmd->start();
  s.sub->start();
}

void redis_cluster::link_closed(const std::string& address, const std::string& why) {
  auto it = shards_.find(address);
  if (it == shards_.end() || stopped_)
    return;
  auto& s = it->second;
  log::warn("redis cluster shard lost", {{"shard", address}, {"error", why}});
  // Both links go: the shard's master may have failed over, and the next
  // slot map says where its slots live now.
  for (auto* link : {&s.cmd, &s.sub})
    if (*link) {
      (*link)->close();
      link->reset();
    }
  s.confirmed.clear();
  s.retry_at = std::chrono::steady_clock::now() + s.backoff;
  s.backoff = std::min(s.backoff * 2, k_max_backoff);
  last_trouble_ = "redis cluster shard " + address + " lost: " + why;
  update_state();
  refresh("a shard's link dropped");
}

// -- sharded pub/sub --

void redis_cluster::subscribe(const std::string& channel) {
  if (wanted_.insert(channel).second)
    place(channel);
}

void redis_cluster::unsubscribe(const std::string& channel) {
  if (!wanted_.erase(channel))
    return;
  auto p = placed_.find(channel);
  if (p == placed_.end())
    return;
  if (auto s = shards_.find(p->second); s != shards_.end()) {
    s->second.confirmed.erase(channel);
    if (s->second.sub && s->second.sub->ready())
      s->second.sub->command({"SUNSUBSCRIBE", channel});
  }
  placed_.erase(p);
}

bool redis_cluster::listening(const std::string& channel) const {
  auto p = placed_.find(channel);
  if (p == placed_.end())
    return false;
  auto s = shards_.find(p->second);
  return s != shards_.end() && s->second.sub && s->second.sub->ready() && s->second.confirmed.count(channel);
}

void redis_cluster::place(const std::string& channel) {
  auto& owner = map_.owner[redis_key_slot(channel)];
  if (owner.empty())
    return; // no master serves it now; the next map places it
  auto p = placed_.find(channel);
  if (p != placed_.end() && p->second == owner)
    return;
  if (p != placed_.end())
    if (auto old = shards_.find(p->second); old != shards_.end()) {
      old->second.confirmed.erase(channel);
      if (old->second.sub && old->second.sub->ready())
        old->second.sub->command({"SUNSUBSCRIBE", channel});
    }
  placed_[channel] = owner;
  if (auto s = shards_.find(owner); s != shards_.end() && s->second.sub && s->second.sub->ready())
    ssubscribe(s->second, channel);
}

void redis_cluster::ssubscribe(shard& s, const std::string& channel) {
  auto address = s.at.address();
  s.sub->command({"SSUBSCRIBE", channel}, [w = weak_from_this(), address, channel](const redis_reply& r) {
    auto self = w.lock();
    if (!self || self->stopped_)
      return;
    auto it = self->shards_.find(address);
    auto p = self->placed_.find(channel);
    bool still = it != self->shards_.end() && p != self->placed_.end() && p->second == address;
    if (r.ok && r.elements.size() == 3 && r.elements[0] == "ssubscribe") {
      if (!still)
        return;
      it->second.confirmed.insert(channel);
      if (self->on_subscribed_)
        self->on_subscribed_(channel);
      return;
    }
    if (!r.ok && r.error == "connection lost")
      return; // the link is being replaced; it subscribes again when up
    // MOVED: the slot lives elsewhere now. Anything else: ask again later.
    log::warn("redis cluster refused a subscription", {{"shard", address}, {"channel", channel}, {"error", r.error}});
    if (still)
      self->placed_.erase(p);
    // A refusal that is not a move (no permission, a Redis without sharded
    // pub/sub) would come back at once: ask again after the backoff.
    auto redirect = parse_redirect(r.error);
    if (redirect && !redirect->ask && self->map_.nodes.count(redirect->at.address())) {
      self->map_.owner[redirect->slot] = redirect->at.address();
      self->refresh("a subscription was redirected");
    } else {
      self->schedule_refresh(k_max_backoff);
    }
  });
}

void redis_cluster::on_push(const std::string& address, const redis_reply& r) {
  auto& kind = r.elements[0];
  auto& channel = r.elements[1];
  if (kind == "smessage" || kind == "message") {
    // Only what this shard serves for us: a shard cannot play us another
    // channel's traffic.
    auto p = placed_.find(channel);
    if (p != placed_.end() && p->second == address && on_message_)
      on_message_(channel, r.elements[2]);
    return;
  }
  // sunsubscribe we did not ask for: the slot moved to another master.
  if (auto s = shards_.find(address); s != shards_.end())
    s->second.confirmed.erase(channel);
  if (auto p = placed_.find(channel); p != placed_.end() && p->second == address)
    placed_.erase(p);
  refresh("a shard dropped a subscription");
}

void redis_cluster::update_state() {
  bool up = !stopped_ && map_.complete();
  if (up)
    for (auto& address : map_.masters()) {
      auto it = shards_.find(address);
      if (it == shards_.end() || !it->second.cmd || !it->second.cmd->ready() || !it->second.sub
          || !it->second.sub->ready()) {
        up = false;
        last_trouble_ = "redis cluster shard " + address + " not connected";
        break;
      }
    }
  if (up)
    backoff_ = std::chrono::milliseconds{100};
  if (up == up_ && reported_)
    return;
  up_ = up;
  reported_ = true;
  if (on_state_)
    on_state_(up, up ? std::string{"connected to every shard"} : last_trouble_);
}

} // namespace stet
