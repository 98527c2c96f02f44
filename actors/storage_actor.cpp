#include "actors/storage_actor.hpp"

#include <caf/atom.hpp>
#include <caf/response_promise.hpp>

#include "metrics/metrics.hpp"

#include <chrono>

#include <iostream>

namespace stet {

namespace {

struct pending_commit {
  std::vector<storage::op_row> rows;
  std::vector<storage::session_event> sessions;
  caf::response_promise promise;
};

struct storage_state {
  std::shared_ptr<storage::store> store;
  std::shared_ptr<node_health> health;
  std::vector<pending_commit> pending;
  bool flush_scheduled = false;
};

void report(storage_state& st, const status& r) {
  st.health->storage_result(r ? std::string{} : r.error().message);
  if (!r)
    metrics::get().storage_errors.Increment();
}

status timed_commit(storage_state& st, const std::vector<storage::op_row>& rows,
                    const std::vector<storage::session_event>& sessions) {
  auto& m = metrics::get();
  auto start = std::chrono::steady_clock::now();
  auto r = st.store->commit(rows, sessions);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  report(st, r);
  if (r) {
    m.storage_commit_seconds.Observe(took.count());
    m.storage_batch_edits.Observe(static_cast<double>(rows.size()));
  }
  return r;
}

void flush(storage_state& st) {
  auto batch = std::move(st.pending);
  st.pending.clear();
  st.flush_scheduled = false;
  std::vector<storage::op_row> rows;
  std::vector<storage::session_event> sessions;
  for (auto& p : batch) {
    rows.insert(rows.end(), p.rows.begin(), p.rows.end());
    sessions.insert(sessions.end(), p.sessions.begin(), p.sessions.end());
  }
  auto all = timed_commit(st, rows, sessions);
  if (all) {
    for (auto& p : batch)
      p.promise.deliver(caf::ok_atom::value);
    return;
  }
  if (batch.size() == 1) {
    batch[0].promise.deliver(to_caf(all.error()));
    return;
  }
  // One document's failure must not fail the others: retry one by one.
  for (auto& p : batch) {
    if (auto r = timed_commit(st, p.rows, p.sessions); r)
      p.promise.deliver(caf::ok_atom::value);
    else
      p.promise.deliver(to_caf(r.error()));
  }
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

} // namespace

caf::behavior storage_actor(caf::event_based_actor* self, std::shared_ptr<storage::store> store,
                            std::shared_ptr<node_health> health) {
  auto st = std::make_shared<storage_state>();
  st->store = std::move(store);
  st->health = std::move(health);
  return {
    [=](load_atom, const std::string& id, const std::string& policy, bool create, std::int64_t owner_id,
        const std::string& lease_node) -> caf::result<loaded_document> {
      auto r = load(*st->store, id, policy, create, owner_id, lease_node);
      // A missing document is an answer, not a storage failure.
      report(*st, r || r.error().code == errc::unknown_document ? ok() : status{r.error()});
      if (!r)
        return to_caf(r.error());
      return std::move(*r);
    },
    [=](commit_atom, std::vector<storage::op_row>& rows, std::vector<storage::session_event>& sessions) {
      st->pending.push_back({std::move(rows), std::move(sessions), self->make_response_promise()});
      if (!st->flush_scheduled) {
        st->flush_scheduled = true;
        // Lands behind every commit already queued: they share one transaction.
        self->send(self, flush_atom::value);
      }
    },
    [=](flush_atom) { flush(*st); },
    [=](run_atom, const store_job& job) { job(*st->store); },
    [=](snapshot_atom, const storage::snapshot_row& snap, std::uint64_t prune_through) -> caf::result<caf::ok_atom> {
      auto r = st->store->save_snapshot(snap, prune_through);
      report(*st, r);
      if (!r)
        return to_caf(r.error());
      return caf::ok_atom::value;
    },
  };
}

} // namespace stet
