// Commands and publications of redis_cluster: each goes to the master of
// its slot, follows MOVED and ASK, and waits (in order, per slot) while no
// link to that master is ready.
#include "actors/redis_cluster.hpp"

#include "metrics/metrics.hpp"

namespace stet {

namespace {

bool worth_retrying(const std::string& error) {
  // The shard is failing over, the cluster is settling, or the link dropped:
  // the slot map will say where to go next.
  return error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN") || error.starts_with("LOADING")
         || error.starts_with("MASTERDOWN") || error == "connection lost" || error.starts_with("not connected");
}

} // namespace

void redis_cluster::command(const std::vector<std::string>& args, reply_handler done) {
  route({args, std::move(done), 0, std::chrono::steady_clock::now() + k_hold_limit}, std::nullopt);
}

void redis_cluster::publish(const std::string& channel, const std::string& payload, reply_handler done) {
  route({{"SPUBLISH", channel, payload}, std::move(done), 0, std::chrono::steady_clock::now() + k_hold_limit},
        std::nullopt);
}

void redis_cluster::route(held_command c, std::optional<redis_endpoint> ask) {
  if (stopped_) {
    if (c.done)
      c.done(redis_reply{.ok = false, .error = "redis cluster stopped"});
    return;
  }
  int slot = redis_key_slot(c.args.size() > 1 ? c.args[1] : std::string{});
  if (!ask) {
    if (auto h = held_.find(slot); h != held_.end() && !h->second.empty()) {
      h->second.push_back(std::move(c)); // behind the ones waiting already
      return;
    }
  }
  if (!send_now(slot, c, ask))
    hold(slot, std::move(c));
}

// Sends `c` to the slot's master (or where ASK points), or returns false
// when no link to it is ready.
bool redis_cluster::send_now(int slot, held_command& c, std::optional<redis_endpoint> ask) {
  shard* s = ask ? &shard_at(*ask) : shard_of_slot(slot);
  if (ask && !s->cmd)
    open_links(*s);
  if (!s || !s->cmd || !s->cmd->ready())
    return false;
  if (ask)
    s->cmd->command({"ASKING"});
  auto address = s->at.address();
  auto args = c.args;
  s->cmd->command(args, [w = weak_from_this(), c = std::move(c), address](const redis_reply& r) mutable {
    auto self = w.lock();
    if (!self || self->stopped_) { // stopping: nothing is held any more
      if (c.done)
        c.done(r);
      return;
    }
    if (r.ok) {
      if (c.args[0] == "SPUBLISH")
        metrics::get().shard_published(address);
      if (c.done)
        c.done(r);
      return;
    }
    auto redirect = parse_redirect(r.error);
    // Followed only to nodes the cluster named: a reply cannot send this
    // node (and its login) anywhere else.
    if (redirect && c.hops < k_max_hops && self->map_.nodes.count(redirect->at.address())) {
      ++c.hops;
      if (redirect->ask)
        return self->route(std::move(c), self->map_.nodes.at(redirect->at.address()));
      if (std::exchange(self->map_.owner[redirect->slot], redirect->at.address()) != redirect->at.address())
        self->reconcile();
      self->refresh("a command was redirected");
      return self->route(std::move(c), std::nullopt);
    }
    if (redirect)
      self->refresh("a command was redirected to a node the cluster did not name");
    int slot = redis_key_slot(c.args.size() > 1 ? c.args[1] : std::string{});
    if ((redirect || worth_retrying(r.error)) && std::chrono::steady_clock::now() < c.deadline) {
      c.last_error = r.error;
      return self->hold(slot, std::move(c)); // again after k_hop_delay
    }
    if (c.done)
      c.done(r);
  });
  return true;
}

void redis_cluster::hold(int slot, held_command c) {
  if (stopped_) {
    if (c.done)
      c.done(redis_reply{.ok = false, .error = "redis cluster stopped"});
    return;
  }
  held_[slot].push_back(std::move(c));
  auto& timer = draining_[slot];
  if (timer)
    return;
  timer = std::make_shared<boost::asio::steady_timer>(io_, k_hop_delay);
  timer->async_wait([w = weak_from_this(), slot](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec) {
      self->draining_.erase(slot);
      self->drain(slot);
    }
  });
}

// Sends what waits for `slot` in order, as far as its master takes it; the
// rest waits on (nothing else is queued for the slot meanwhile: sends
// answer later, on this thread).
void redis_cluster::drain(int slot) {
  auto it = held_.find(slot);
  if (it == held_.end())
    return;
  auto waiting = std::move(it->second);
  held_.erase(it);
  auto now = std::chrono::steady_clock::now();
  while (!waiting.empty()) {
    auto& c = waiting.front();
    if (stopped_ || now >= c.deadline) {
      if (c.done)
        c.done(redis_reply{.ok = false,
                           .error = c.last_error.empty() ? "no redis cluster shard serves slot " + std::to_string(slot)
                                                         : c.last_error});
    } else if (!send_now(slot, c, std::nullopt)) {
      break;
    }
    waiting.pop_front();
  }
  while (!waiting.empty()) {
    hold(slot, std::move(waiting.front()));
    waiting.pop_front();
  }
}

} // namespace stet
