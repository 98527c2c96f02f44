#include "actors/webhook_sender.hpp"

#include "auth/token.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <unordered_map>

namespace stet {

namespace {

struct in_flight {
  storage::webhook_row row;
  std::uint64_t rev = 0; // the revision the body shows
  std::size_t waiting = 0;
  bool failed = false;
};

struct sender_state {
  // Declared, so CAF does not try to build the state from the actor.
  sender_state() = default;
  storage_api store;
  registry_api registry;
  webhook_config config;
  bool polling = false;
  std::uint64_t polls = 0;
  std::unordered_map<std::int64_t, in_flight> sending;
  /// Events whose outcome storage is recording: a poll answered before
  /// it did must not start them again.
  std::set<std::int64_t> clearing;
  /// Documents with an event in flight or clearing: a document's events
  /// due together go one at a time, oldest first (a retry waiting out its
  /// backoff does not hold up the others: receivers may see events out of
  /// order then, and order them by ts).
  std::multiset<std::string> busy;
  /// Per event, the revision each receiver answered 2xx for, so a retry
  /// goes only to the others (and again to all when a change moved on).
  std::unordered_map<std::int64_t, std::unordered_map<std::string, std::uint64_t>> reached;

  static inline const char* name = "webhook-sender";
};

using self_ptr = webhook_sender_api::stateful_pointer<sender_state>;

void poll_again(self_ptr self, sender_state& st) {
  st.polling = false;
  self->delayed_send(self, st.config.poll, hook_atom::value);
}

// Storage records an event's outcome; until it answered, the event is
// neither started again nor is its document's next one.
template <class Atom, class Arg>
void record(self_ptr self, sender_state& st, const storage::webhook_row& row, Atom atom, Arg arg) {
  st.clearing.insert(row.id);
  st.busy.insert(row.doc_id);
  auto done = [self, id = row.id, doc = row.doc_id] {
    self->state.clearing.erase(id);
    if (auto it = self->state.busy.find(doc); it != self->state.busy.end())
      self->state.busy.erase(it);
  };
  self->request(st.store, k_store_timeout, atom, row.id, arg)
    .then([done](caf::ok_atom) { done(); }, [done](caf::error&) { done(); }); // read again at the next poll
}

void finish(self_ptr self, sender_state& st, std::int64_t id) {
  auto it = st.sending.find(id);
  if (it == st.sending.end())
    return;
  auto row = it->second.row;
  auto rev = it->second.rev;
  bool failed = it->second.failed;
  st.sending.erase(it);
  if (auto b = st.busy.find(row.doc_id); b != st.busy.end())
    st.busy.erase(b);
  if (failed) {
    metrics::get().webhook("failed");
    return record(self, st, row, hook_retry_atom::value, webhook_backoff(row.attempts).count());
  }
  metrics::get().webhook("delivered");
  st.reached.erase(id);
  record(self, st, row, hook_done_atom::value, rev); // not cleared: sent again, at least once
}

void send_to_receivers(self_ptr self, sender_state& st, in_flight& f, const std::string& body) {
  auto& reached = st.reached[f.row.id];
  // The delivery id is in the signed body too, so a captured request
  // cannot be replayed under a fresh id.
  auto delivery = webhook_delivery_id(f.row, f.rev);
  auto signature = "sha256=" + auth::hmac_sha256_hex(st.config.secret, body);
  for (auto& url : st.config.urls) {
    if (auto r = reached.find(url); r != reached.end() && r->second >= f.rev)
      continue;
    ++f.waiting;
    webhook_request req{url,
                        {{"Content-Type", "application/json"},
                         {"User-Agent", "stet-webhooks"},
                         {"X-Stet-Event", f.row.event},
                         {"X-Stet-Delivery", delivery},
                         {"X-Stet-Signature", signature}},
                        body};
    auto id = f.row.id;
    caf::actor me = caf::actor_cast<caf::actor>(self);
    st.config.transport->post(std::move(req), [me, id, url](int status, std::string error) {
      caf::anon_send(me, hook_done_atom::value, id, url, status, std::move(error));
    });
  }
  if (f.waiting == 0) // every receiver has it already
    finish(self, st, f.row.id);
}

void start(self_ptr self, sender_state& st, const storage::webhook_row& row) {
  auto& f = st.sending[row.id];
  f.row = row;
  f.rev = row.rev;
  st.busy.insert(row.doc_id);
  if (row.event != "document.changed")
    return send_to_receivers(self, st, f, webhook_body(row, row.rev, nullptr));
  // The committed text as it is now (it may be newer than the row's rev:
  // then the row is cleared up to the rev sent).
  self->request(st.registry, k_store_timeout, get_atom::value, row.doc_id, k_current_rev)
    .then(
      [=](document_view& v) {
        auto it = self->state.sending.find(row.id);
        if (it == self->state.sending.end())
          return;
        it->second.rev = v.rev;
        send_to_receivers(self, self->state, it->second, webhook_body(row, v.rev, &v.text));
      },
      [=](caf::error&) {
        // Not readable now (storage away, or deleted meanwhile: its delete
        // removed the change already): the next poll sees.
        auto it = self->state.sending.find(row.id);
        if (it == self->state.sending.end())
          return;
        it->second.failed = true;
        finish(self, self->state, row.id);
      });
}

void poll(self_ptr self) {
  auto& st = self->state;
  if (st.polling)
    return;
  st.polling = true;
  auto debounce = static_cast<std::int64_t>(st.config.debounce.count());
  auto max_wait = static_cast<std::int64_t>(st.config.max_wait.count());
  // Expiring and counting the outbox scan it: every 40 polls (10 s) is enough.
  bool housekeeping = st.polls++ % 40 == 0;
  self->request(st.store, k_store_timeout, hook_atom::value, debounce, max_wait, housekeeping)
    .then(
      [=](webhook_batch& batch) {
        auto& st = self->state;
        if (housekeeping)
          metrics::get().webhook_outbox_depth.Set(static_cast<double>(batch.depth));
        if (batch.expired > 0) {
          metrics::get().webhook("expired", static_cast<double>(batch.expired));
          log::warn("webhook events given up after 24 hours", {{"events", std::to_string(batch.expired)}});
        }
        // Receivers reached stay known while their events wait for retries;
        // past this many (a long outage of one receiver) they are forgotten
        // and a retry may reach a receiver twice (at least once).
        if (st.reached.size() > 100'000)
          st.reached.clear();
        std::erase_if(batch.due, [&](const storage::webhook_row& r) {
          return st.sending.count(r.id) > 0 || st.clearing.count(r.id) > 0 || st.busy.count(r.doc_id) > 0;
        });
        if (batch.due.empty())
          return poll_again(self, st);
        std::vector<std::string> ids;
        for (auto& r : batch.due)
          ids.push_back(r.doc_id);
        // Only the owner sends a document's events (after a move, the new
        // owner does); an unowned document's wait for their owner's poll.
        self->request(st.registry, k_actor_timeout, owner_atom::value, std::move(ids))
          .then(
            [=](std::vector<std::string>& owned) {
              auto& st = self->state;
              std::set<std::string> mine(owned.begin(), owned.end());
              for (auto& r : batch.due) // oldest first: a document's first only
                if (mine.count(r.doc_id) && !st.sending.count(r.id) && !st.clearing.count(r.id) && !st.busy.count(r.doc_id))
                  start(self, st, r);
              poll_again(self, st);
            },
            [=](caf::error&) { poll_again(self, self->state); });
      },
      [=](caf::error& err) {
        log::warn("cannot read the webhook outbox", {{"error", describe(from_caf(err))}});
        poll_again(self, self->state);
      });
}

void answered(self_ptr self, std::int64_t id, const std::string& url, int status, const std::string& error) {
  auto& st = self->state;
  auto it = st.sending.find(id);
  if (it == st.sending.end())
    return;
  auto& f = it->second;
  if (status >= 200 && status < 300) {
    st.reached[id][url] = f.rev;
  } else {
    f.failed = true;
    log::warn("webhook not delivered", {{"event", f.row.event},
                                         {"delivery", f.row.delivery},
                                         {"status", std::to_string(status)},
                                         {"error", error},
                                         {"attempts", std::to_string(f.row.attempts + 1)}});
  }
  if (--f.waiting == 0)
    finish(self, st, id);
}

} // namespace

std::chrono::milliseconds webhook_backoff(int attempts) {
  using namespace std::chrono;
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto base = milliseconds{1000} * (1LL << std::min(attempts, 10));
  auto capped = std::min<milliseconds>(base, minutes{10});
  // Jitter (75-125 %) spreads the retries of many events failing together.
  std::uniform_int_distribution<long long> jitter{75, 125};
  return capped * jitter(rng) / 100;
}

std::string webhook_delivery_id(const storage::webhook_row& row, std::uint64_t rev) {
  return row.event == "document.changed" ? row.doc_id + "@" + std::to_string(rev) : row.delivery;
}

std::string webhook_body(const storage::webhook_row& row, std::uint64_t rev, const std::string* text) {
  nlohmann::json body{
    {"event", row.event}, {"deliveryId", webhook_delivery_id(row, rev)}, {"docId", row.doc_id}, {"ts", row.at}};
  if (row.event == "document.changed" || row.event == "document.deleted")
    body["rev"] = rev;
  if (text)
    body["text"] = *text;
  if (row.event.starts_with("session.")) {
    body["user"] = row.username.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.username);
    body["userId"] = row.user_id == 0 ? nlohmann::json(nullptr) : nlohmann::json(row.user_id);
    body["node"] = row.node_id;
    body["sessionId"] = row.session_id;
  }
  return body.dump();
}

namespace {

webhook_sender_api::behavior_type sender(self_ptr self, storage_api store, registry_api registry,
                                         webhook_config config) {
  self->state.store = std::move(store);
  self->state.registry = std::move(registry);
  self->state.config = std::move(config);
  self->send(self, hook_atom::value);
  return {
    [=](hook_atom) { poll(self); },
    [=](hook_done_atom, std::int64_t id, const std::string& url, int status, const std::string& error) {
      answered(self, id, url, status, error);
    },
  };
}

} // namespace

webhook_sender_api spawn_webhook_sender(caf::actor_system& system, storage_api store, registry_api registry,
                                        webhook_config config) {
  return system.spawn(sender, std::move(store), std::move(registry), std::move(config));
}

} // namespace stet
