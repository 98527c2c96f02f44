#include "actors/storage_actor.hpp"

#include <caf/atom.hpp>
#include <caf/response_promise.hpp>

#include "metrics/metrics.hpp"

#include <chrono>
#include <deque>
#include <unordered_set>
#include <iterator>


namespace stet {

namespace {

// One requester's share of a transaction: its writes and who waits for them.
struct pending_write {
  storage::write_batch writes;
  caf::response_promise promise;
  std::chrono::steady_clock::time_point queued{};
};

struct storage_state {
  std::shared_ptr<storage::store> store;
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
  /// Documents a write of which failed for good: their later writes (sent
  /// before the document heard) are refused too, so no document's op log
  /// ever gets a gap. Forgotten when the document is loaded again.
  std::unordered_set<std::string> failed_docs;
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

void report(storage_state& st, const status& r) {
  st.health->storage_result(r ? std::string{} : r.error().message);
  if (!r)
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

void schedule_flush(caf::event_based_actor* self, storage_state& st) {
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

// A write that cannot land: its document's later writes must not either.
void fail_for_good(storage_state& st, pending_write& p, const status& r) {
  if (auto* doc = doc_of(p); doc && p.writes.snapshots.empty())
    st.failed_docs.insert(*doc);
  answer(p, r);
}

void schedule_retry(caf::event_based_actor* self, storage_state& st) {
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, st.retry_delay, retry_atom::value);
  st.retry_delay = std::min(st.retry_delay * 2, std::chrono::milliseconds{2000});
}

// The database is away: `batch` goes back in front of what queued since,
// in order, and is tried again later; writes that waited too long are
// answered with the error instead.
void retry_later(caf::event_based_actor* self, storage_state& st, std::vector<pending_write> batch,
                 const status& why) {
  auto now = std::chrono::steady_clock::now();
  std::vector<pending_write> keep;
  for (auto& p : batch) {
    if (!p.writes.snapshots.empty()) {
      st.snapshots.push_front(std::move(p));
      continue;
    }
    if (now - p.queued >= k_retry_for)
      fail_for_good(st, p, why);
    else
      keep.push_back(std::move(p));
  }
  move_append(keep, st.commits);
  st.commits = std::move(keep);
  schedule_retry(self, st);
}

// Answers (and takes out of `batch`) the writes of documents a write of
// which failed for good.
void refuse_after_failure(storage_state& st, std::vector<pending_write>& batch) {
  if (st.failed_docs.empty())
    return;
  std::erase_if(batch, [&](pending_write& p) {
    auto* doc = doc_of(p);
    if (!doc || !p.writes.snapshots.empty() || !st.failed_docs.count(*doc))
      return false;
    answer(p, make_error(errc::internal, "an earlier write of document " + *doc + " could not be stored"));
    return true;
  });
}

// Each write alone, in order, after a transaction of several failed for a
// reason that is not the database being away: one document's failure must
// not fail the others.
void commit_one_by_one(caf::event_based_actor* self, storage_state& st, std::vector<pending_write> batch) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (auto* doc = doc_of(p); doc && p.writes.snapshots.empty() && st.failed_docs.count(*doc)) {
      answer(p, make_error(errc::internal, "an earlier write of document " + *doc + " could not be stored"));
      continue;
    }
    auto r = timed_commit(st, p.writes);
    if (transient(r)) {
      std::vector<pending_write> rest(std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(i)),
                                      std::make_move_iterator(batch.end()));
      return retry_later(self, st, std::move(rest), r);
    }
    if (r)
      answer(p, r);
    else
      fail_for_good(st, p, r);
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
void flush(caf::event_based_actor* self, storage_state& st) {
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
  refuse_after_failure(st, batch);
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
    return fail_for_good(st, batch[0], r);
  commit_one_by_one(self, st, std::move(batch));
}

// A load reads everything sent to this actor before it: the commits
// queued are stored first, once; if they cannot be now, they are answered
// with the error (their documents close) rather than land after the read.
void flush_before_read(caf::event_based_actor* self, storage_state& st) {
  st.retry_scheduled = false; // a stale retry timer then finds nothing, or flushes what queued since
  flush(self, st);
  if (!st.retry_scheduled)
    return;
  auto waiting = std::move(st.commits);
  st.commits.clear();
  for (auto& p : waiting)
    fail_for_good(st, p, make_error(errc::storage_unavailable, "the database is unavailable; retry shortly"));
}

result<loaded_document> load(storage::store& s, const std::string& id, const std::string& policy, bool create,
                             std::int64_t owner_id, const std::string& lease_node) {
  auto found = s.find_document(id);
  if (!found)
    return found.error();
  loaded_document out;
  if (*found) {
    out.row = std::move(**found);
  } else if (create) {
    storage::document_row row;
    row.id = id;
    row.policy = policy;
    row.owner_id = owner_id;
    auto created = s.create_document(row);
    if (!created)
      return created.error();
    out.row = std::move(*created);
  } else {
    return make_error(errc::unknown_document, "no document with id " + id);
  }
  if (!lease_node.empty()) {
    // Taking the lease fences every commit of a previous owner.
    auto epoch = s.acquire_lease(id, lease_node);
    if (!epoch)
      return epoch.error();
    out.row.owner_epoch = *epoch;
  }
  auto ops = s.ops_since(id, 0);
  if (!ops)
    return ops.error();
  out.ops = std::move(*ops);
  auto clients = s.client_seqs(id);
  if (!clients)
    return clients.error();
  out.clients = std::move(*clients);
  auto acl = s.access_list(id);
  if (!acl)
    return acl.error();
  out.acl = std::move(*acl);
  return out;
}

// Who may open a document now: its row (owner, public) and access list.
// The row is read first: an owner or visibility change is never labelled
// with an access list version older than itself.
result<loaded_document> read_access(storage::store& s, const std::string& id) {
  auto found = s.find_document(id);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(errc::unknown_document, "document " + id + " was deleted");
  loaded_document out;
  out.row = std::move(**found);
  auto acl = s.access_list(id);
  if (!acl)
    return acl.error();
  out.acl = std::move(*acl);
  return out;
}

} // namespace

caf::behavior storage_actor(caf::event_based_actor* self, std::shared_ptr<storage::store> store,
                            std::shared_ptr<node_health> health) {
  auto st = std::make_shared<storage_state>();
  st->store = std::move(store);
  st->health = std::move(health);
  return {
    [=](load_atom, const std::string& id, const std::string& policy, bool create, std::int64_t owner_id,
        const std::string& lease_node) -> caf::result<loaded_document> {
      // Commits queued before this load (of a document that closed while
      // they waited, say) are stored first: a load reads everything sent
      // to this actor before it.
      st->failed_docs.erase(id);
      if (!st->commits.empty())
        flush_before_read(self, *st);
      auto start = std::chrono::steady_clock::now();
      auto r = load(*st->store, id, policy, create, owner_id, lease_node);
      std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      metrics::get().storage_load_seconds.Observe(took.count());
      // A missing document is an answer, not a storage failure.
      report(*st, r || r.error().code == errc::unknown_document ? ok() : status{r.error()});
      if (!r)
        return to_caf(r.error());
      return std::move(*r);
    },
    [=](user_atom, std::int64_t user_id) -> caf::result<std::int64_t> {
      auto user = st->store->find_user_by_id(user_id);
      report(*st, user ? ok() : status{user.error()});
      if (!user)
        return to_caf(user.error());
      if (!*user)
        return to_caf(make_error(errc::unauthorized, "the account was deleted"));
      return (*user)->token_epoch;
    },
    [=](acl_atom, const std::string& id) -> caf::result<loaded_document> {
      auto r = read_access(*st->store, id);
      report(*st, r || r.error().code == errc::unknown_document ? ok() : status{r.error()});
      if (!r)
        return to_caf(r.error());
      return std::move(*r);
    },
    [=](commit_atom, std::vector<storage::op_row>& rows, std::vector<storage::session_event>& sessions) {
      st->commits.push_back({{std::move(rows), std::move(sessions), {}}, self->make_response_promise(),
                             std::chrono::steady_clock::now()});
      schedule_flush(self, *st);
    },
    [=](snapshot_atom, storage::snapshot_row& snap) {
      st->snapshots.push_back({{{}, {}, {std::move(snap)}}, self->make_response_promise(),
                               std::chrono::steady_clock::now()});
      schedule_flush(self, *st);
    },
    [=](flush_atom) { flush(self, *st); },
    [=](retry_atom) {
      st->retry_scheduled = false;
      flush(self, *st);
    },
    [=](snapshot_atom) { // a spaced-out snapshot is due
      st->snapshot_timer_set = false;
      flush(self, *st);
    },
    [=](run_atom, const store_job& job) { job(*st->store); },
  };
}

} // namespace stet
