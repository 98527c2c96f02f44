#include "actors/storage_actor.hpp"

#include "actors/storage_requests.hpp"

#include <caf/atom.hpp>
#include <caf/response_promise.hpp>

#include "metrics/metrics.hpp"

#include <chrono>
#include <deque>
#include <limits>
#include <iterator>


namespace stet {

namespace {

using storage_self = storage_actor_api::pointer;

// One requester's share of a transaction: its writes and who waits for them.
struct pending_write {
  storage::write_batch writes;
  caf::typed_response_promise<caf::ok_atom> promise;
  std::chrono::steady_clock::time_point queued{};
};

struct storage_state {
  std::shared_ptr<storage::store> store;
  /// Told what the REST API stored (see storage_actor_api).
  registry_api registry;
  std::shared_ptr<node_health> health;
  std::vector<pending_write> commits;
  std::deque<pending_write> snapshots;
  bool flush_scheduled = false;
  std::chrono::steady_clock::time_point last_snapshot{};
  std::size_t ops_since_snapshot = 0;
  bool snapshot_timer_set = false;
  /// While the database is away, writes wait for the retry timer.
  bool retry_scheduled = false;
  std::chrono::milliseconds retry_delay{50};
};

// How long a write is retried while the database is away before its
// document is told (it then closes, and its sessions resync): less than
// the document's own watchdog, which covers a store that never answers.
constexpr std::chrono::seconds k_retry_for{45};

// While edits are committing, a snapshot joins a transaction at most every
// 20 ms or every 250 committed edits, whichever comes first. A snapshot
// costs the storage thread ~0.5-1 ms (text, and pruning the op log behind
// it), and documents that started together cross the snapshot interval
// together: 64 documents at 300 edits/s each snapshotted back to back,
// one per transaction, and ack p99 went from 8 to 14-32 ms. The edit
// count keeps up with any load (a document snapshots every 1,000 revisions
// by default: one snapshot per 1,000 edits); while no edit commits they go
// back to back, so an idle node's burst (documents closing) drains fast.
constexpr std::chrono::milliseconds k_snapshot_spacing{20};
constexpr std::size_t k_edits_per_snapshot = 250;

// A fenced write is a document that moved, not a database failing: it
// neither pages nor makes the node unready.
void report(storage_state& st, const status& r) {
  bool failed = !r && r.error().code != errc::fenced;
  st.health->storage_result(failed ? r.error().message : std::string{});
  if (failed)
    metrics::get().storage_errors.Increment();
}

status timed_commit(storage_state& st, const storage::write_batch& batch) {
  auto& m = metrics::get();
  auto start = std::chrono::steady_clock::now();
  auto r = st.store->commit(batch);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  report(st, r);
  if (r) {
    m.storage_commit_seconds.Observe(took.count());
    m.storage_batch_edits.Observe(static_cast<double>(batch.ops.size()));
    if (!batch.snapshots.empty())
      m.storage_snapshots.Increment(static_cast<double>(batch.snapshots.size()));
  }
  return r;
}

void schedule_flush(storage_self self, storage_state& st) {
  if (st.flush_scheduled)
    return;
  st.flush_scheduled = true;
  // Lands behind every message already queued: their commits share one
  // transaction.
  self->send(self, flush_atom::value);
}

template <class T>
void move_append(std::vector<T>& to, std::vector<T>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}


void answer(pending_write& p, const status& r) {
  if (r)
    p.promise.deliver(caf::ok_atom::value);
  else
    p.promise.deliver(to_caf(r.error()));
}

bool transient(const status& r) {
  return !r && r.error().code == errc::storage_unavailable;
}

const std::string* doc_of(const pending_write& p) {
  if (!p.writes.ops.empty())
    return &p.writes.ops.front().doc_id;
  if (!p.writes.sessions.empty())
    return &p.writes.sessions.front().doc_id;
  return nullptr;
}

void schedule_retry(storage_self self, storage_state& st) {
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, st.retry_delay, retry_atom::value);
  st.retry_delay = std::min(st.retry_delay * 2, std::chrono::milliseconds{2000});
}

// The database is away: `batch` goes back in front of what queued since,
// in order, and is tried again later; writes that waited too long are
// answered with the error instead. A write answered so never leaves a gap
// behind it: a later write of its document no longer follows the stored
// revision, and storage refuses it (commit_plan). Snapshots are answered
// at once: they are never urgent, and each holds a whole text.
void retry_later(storage_self self, storage_state& st, std::vector<pending_write> batch,
                 const status& why) {
  auto now = std::chrono::steady_clock::now();
  std::vector<pending_write> keep;
  for (auto& p : batch) {
    if (!p.writes.snapshots.empty() || now - p.queued >= k_retry_for)
      answer(p, why);
    else
      keep.push_back(std::move(p));
  }
  move_append(keep, st.commits);
  st.commits = std::move(keep);
  schedule_retry(self, st);
}

// Each write alone, in order, after a transaction of several failed for a
// reason that is not the database being away: one document's failure must
// not fail the others.
void commit_one_by_one(storage_self self, storage_state& st, std::vector<pending_write> batch) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    auto r = timed_commit(st, p.writes);
    if (transient(r)) {
      std::vector<pending_write> rest(std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(i)),
                                      std::make_move_iterator(batch.end()));
      return retry_later(self, st, std::move(rest), r);
    }
    answer(p, r);
  }
}

// The writes of `batch` in one transaction. Afterwards each write holds
// its own rows again (a failed transaction is tried again, whole or one
// write at a time).
status commit_together(storage_state& st, std::vector<pending_write>& batch) {
  storage::write_batch all;
  for (auto& p : batch) {
    move_append(all.ops, p.writes.ops);
    move_append(all.sessions, p.writes.sessions);
    move_append(all.snapshots, p.writes.snapshots);
  }
  auto r = timed_commit(st, all);
  if (r)
    return r;
  // Moved-from vectors keep their sizes: each takes back as many as it gave.
  std::size_t ops = 0, sessions = 0, snapshots = 0;
  auto take_back = [](auto& own, auto& from, std::size_t& at) {
    for (auto& x : own)
      x = std::move(from[at++]);
  };
  for (auto& p : batch) {
    take_back(p.writes.ops, all.ops, ops);
    take_back(p.writes.sessions, all.sessions, sessions);
    take_back(p.writes.snapshots, all.snapshots, snapshots);
  }
  return r;
}

// Writes every queued commit and at most one snapshot in one transaction.
// Snapshots are large and never urgent (they only shorten loading), so they
// ride along spaced out (above) instead of holding commits back.
void flush(storage_self self, storage_state& st) {
  st.flush_scheduled = false;
  if (st.retry_scheduled)
    return; // the retry timer flushes
  auto batch = std::move(st.commits);
  st.commits.clear();
  if (!st.snapshots.empty()) {
    auto now = std::chrono::steady_clock::now();
    auto due = st.last_snapshot + k_snapshot_spacing;
    // No edit committed since the last snapshot, none waiting: idle.
    bool idle = batch.empty() && st.ops_since_snapshot == 0;
    if (idle || now >= due || st.ops_since_snapshot >= k_edits_per_snapshot) {
      batch.push_back(std::move(st.snapshots.front()));
      st.snapshots.pop_front();
      st.last_snapshot = now;
      st.ops_since_snapshot = 0;
      due = now + k_snapshot_spacing;
    }
    if (!st.snapshots.empty()) {
      if (idle)
        schedule_flush(self, st);
      else if (!st.snapshot_timer_set) {
        st.snapshot_timer_set = true;
        self->delayed_send(self, std::chrono::duration_cast<std::chrono::microseconds>(due - now),
                           snapshot_atom::value);
      }
    }
  }
  if (batch.empty())
    return;
  for (auto& p : batch)
    st.ops_since_snapshot += p.writes.ops.size();
  auto r = batch.size() == 1 ? timed_commit(st, batch[0].writes) : commit_together(st, batch);
  if (r) {
    st.retry_delay = std::chrono::milliseconds{50};
    for (auto& p : batch)
      answer(p, r);
    return;
  }
  if (transient(r))
    return retry_later(self, st, std::move(batch), r);
  if (batch.size() == 1)
    return answer(batch[0], r);
  commit_one_by_one(self, st, std::move(batch));
}

// A load reads everything sent to this actor before it: the commits
// queued are stored first, once. If they cannot be now, the loaded
// document's own are answered with the error (its actor closed already,
// or will: they must not land after the read); the other documents' stay,
// to be retried.
void flush_before_read(storage_self self, storage_state& st, const std::string& doc_id) {
  st.retry_scheduled = false; // a stale retry timer then finds nothing, or flushes what queued since
  flush(self, st);
  if (!st.retry_scheduled)
    return;
  auto unavailable = make_error(errc::storage_unavailable, "the database is unavailable; retry shortly");
  std::erase_if(st.commits, [&](pending_write& p) {
    auto* doc = doc_of(p);
    if (!doc || *doc != doc_id)
      return false;
    answer(p, unavailable);
    return true;
  });
}

} // namespace

namespace {

// Whether an error is the database failing (for /readyz and the metrics),
// not an answer such as a missing document or a name taken.
bool storage_failed(const error& e) {
  return e.code == errc::storage_unavailable || e.code == errc::internal;
}

// The answer to a request: the value, or the error.
template <class T>
caf::result<T> answered(storage_state& st, result<T> r) {
  report(st, r || !storage_failed(r.error()) ? ok() : status{r.error()});
  if (!r)
    return to_caf(r.error());
  return std::move(*r);
}

caf::result<caf::ok_atom> answered(storage_state& st, status r) {
  report(st, r || !storage_failed(r.error()) ? ok() : status{r.error()});
  if (!r)
    return to_caf(r.error());
  return caf::ok_atom::value;
}

} // namespace

storage_actor_api::behavior_type storage_actor(storage_actor_api::pointer self, std::shared_ptr<storage::store> store,
                                               std::shared_ptr<node_health> health) {
  auto st = std::make_shared<storage_state>();
  st->store = std::move(store);
  st->health = std::move(health);
  return {
    [=](load_atom, const load_request& req) -> caf::result<loaded_document> {
      // Commits queued before this load (of a document that closed while
      // they waited, say) are stored first: a load reads everything sent
      // to this actor before it.
      if (!st->commits.empty())
        flush_before_read(self, *st, req.doc_id);
      auto start = std::chrono::steady_clock::now();
      auto r = load(*st->store, req);
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      metrics::get().storage_load_seconds.Observe(took.count());
      return answered(*st, std::move(r));
    },
    [=](acl_atom, const std::string& id) -> caf::result<loaded_document> {
      return answered(*st, read_access(*st->store, id));
    },
    [=](user_atom, std::int64_t user_id) -> caf::result<std::int64_t> {
      auto user = user_by_id(*st->store, user_id);
      return answered(*st, user ? result<std::int64_t>{user->token_epoch} : result<std::int64_t>{user.error()});
    },
    [=](commit_atom, std::vector<storage::op_row>& rows,
        std::vector<storage::session_event>& sessions) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      st->commits.push_back({{std::move(rows), std::move(sessions), {}}, rp, std::chrono::steady_clock::now()});
      schedule_flush(self, *st);
      return rp;
    },
    [=](snapshot_atom, storage::snapshot_row& snap) -> caf::result<caf::ok_atom> {
      auto rp = self->make_response_promise<caf::ok_atom>();
      st->snapshots.push_back({{{}, {}, {std::move(snap)}}, rp, std::chrono::steady_clock::now()});
      schedule_flush(self, *st);
      return rp;
    },
    [=](create_atom, const storage::document_row& row) -> caf::result<storage::document_row> {
      return answered(*st, st->store->create_document(row));
    },
    [=](list_atom, std::int64_t user) -> caf::result<std::vector<visible_document>> {
      return answered(*st, list_for(*st->store, user));
    },
    [=](open_atom, const std::string& id, std::int64_t user,
        const std::string& scoped_role) -> caf::result<visible_document> {
      return answered(*st, open_as(*st->store, id, user, scoped_role));
    },
    [=](delete_atom, const std::string& id, std::int64_t user, const std::string& scoped_role) -> caf::result<caf::ok_atom> {
      auto r = delete_as(*st->store, id, user, scoped_role);
      if (r && st->registry)
        self->send(st->registry, drop_atom::value, id);
      return answered(*st, r);
    },
    [=](share_atom, const share_request& req) -> caf::result<share_result> {
      auto r = share_as(*st->store, req);
      if (r && st->registry)
        self->send(st->registry, acl_atom::value, req.doc_id, r->user_id, req.role, r->version);
      return answered(*st, std::move(r));
    },
    [=](history_atom, const std::string& id, std::int64_t user,
        const std::string& scoped_role) -> caf::result<document_history> {
      return answered(*st, history_as(*st->store, id, user, scoped_role));
    },
    [=](version_atom, const storage::version_row& v, const std::string& scoped_role) -> caf::result<storage::version_row> {
      return answered(*st, name_version_as(*st->store, v, scoped_role));
    },
    [=](versions_atom, const std::string& id, std::int64_t user,
        const std::string& scoped_role) -> caf::result<std::vector<storage::version_row>> {
      return answered(*st, versions_as(*st->store, id, user, scoped_role));
    },
    [=](version_atom, const std::string& id, std::int64_t user, const std::string& scoped_role,
        std::int64_t version) -> caf::result<storage::version_row> {
      return answered(*st, version_as(*st->store, id, user, scoped_role, version));
    },
    [=](delete_atom, const std::string& id, std::int64_t user, const std::string& scoped_role,
        std::int64_t version) -> caf::result<caf::ok_atom> {
      return answered(*st, delete_version_as(*st->store, id, user, scoped_role, version));
    },
    [=](register_atom, const storage::user_row& user) -> caf::result<storage::user_row> {
      return answered(*st, st->store->create_user(user));
    },
    [=](find_atom, const std::string& username) -> caf::result<std::optional<storage::user_row>> {
      return answered(*st, st->store->find_user(username));
    },
    [=](find_atom, std::int64_t id) -> caf::result<storage::user_row> {
      return answered(*st, user_by_id(*st->store, id));
    },
    [=](hook_atom, std::int64_t debounce_ms, std::int64_t max_wait_ms,
        bool housekeeping) -> caf::result<webhook_batch> {
      constexpr std::int64_t k_day_ms = 24 * 3600 * 1000;
      webhook_batch batch;
      if (housekeeping) {
        auto counts = st->store->expire_webhooks(k_day_ms);
        if (!counts)
          return answered(*st, result<webhook_batch>{counts.error()});
        std::tie(batch.expired, batch.depth) = *counts;
      }
      auto due = st->store->due_webhooks(debounce_ms, max_wait_ms, 500);
      if (!due)
        return answered(*st, result<webhook_batch>{due.error()});
      batch.due = std::move(*due);
      return answered(*st, result<webhook_batch>{std::move(batch)});
    },
    [=](hook_done_atom, std::int64_t id, std::uint64_t rev) -> caf::result<caf::ok_atom> {
      return answered(*st, st->store->webhook_delivered(id, rev));
    },
    [=](hook_retry_atom, std::int64_t id, std::int64_t retry_in_ms) -> caf::result<caf::ok_atom> {
      return answered(*st, st->store->webhook_failed(id, retry_in_ms));
    },
    [=](find_atom, const std::string& issuer, const std::string& subject) -> caf::result<storage::user_row> {
      return answered(*st, storage::external_user(*st->store, issuer, subject));
    },
    [=](revoke_atom, std::int64_t user, const std::string& new_hash) -> caf::result<std::int64_t> {
      auto r = st->store->revoke_tokens(user, new_hash.empty() ? std::nullopt : std::optional<std::string>{new_hash});
      if (r && st->registry)
        self->send(st->registry, revoke_atom::value, user, *r);
      return answered(*st, std::move(r));
    },
    [=](erase_atom, std::int64_t user) -> caf::result<std::vector<std::string>> {
      auto r = st->store->delete_user(user);
      if (r && st->registry) {
        self->send(st->registry, revoke_atom::value, user, std::numeric_limits<std::int64_t>::max());
        for (auto& doc : *r) // their documents close on whichever node has them open
          self->send(st->registry, drop_atom::value, doc);
      }
      return answered(*st, std::move(r));
    },
    [=](route_atom, registry_api& registry) { st->registry = std::move(registry); },
    [=](flush_atom) { flush(self, *st); },
    [=](retry_atom) {
      st->retry_scheduled = false;
      flush(self, *st);
    },
    [=](snapshot_atom) { // a spaced-out snapshot is due
      st->snapshot_timer_set = false;
      flush(self, *st);
    },
  };
}

} // namespace stet
