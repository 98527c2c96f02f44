#include "actors/storage_actor.hpp"

#include <caf/atom.hpp>
#include <caf/response_promise.hpp>

#include <iostream>

namespace stet {

namespace {

struct pending_commit {
  std::vector<storage::op_row> rows;
  caf::response_promise promise;
};

struct storage_state {
  std::shared_ptr<storage::store> store;
  std::vector<pending_commit> pending;
  bool flush_scheduled = false;
};

void flush(storage_state& st) {
  auto batch = std::move(st.pending);
  st.pending.clear();
  st.flush_scheduled = false;
  std::vector<storage::op_row> all;
  for (auto& p : batch)
    all.insert(all.end(), p.rows.begin(), p.rows.end());
  if (st.store->commit(all)) {
    for (auto& p : batch)
      p.promise.deliver(caf::ok_atom::value);
    return;
  }
  // One document's failure must not fail the others: retry one by one.
  for (auto& p : batch) {
    if (auto r = st.store->commit(p.rows); r)
      p.promise.deliver(caf::ok_atom::value);
    else
      p.promise.deliver(to_caf(r.error()));
  }
}

result<loaded_document> load(storage::store& s, const std::string& id, const std::string& policy, bool create) {
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
    auto created = s.create_document(row);
    if (!created)
      return created.error();
    out.row = std::move(*created);
  } else {
    return make_error(errc::unknown_document, "no document with id " + id);
  }
  auto ops = s.ops_since(id, 0);
  if (!ops)
    return ops.error();
  out.ops = std::move(*ops);
  auto clients = s.client_seqs(id);
  if (!clients)
    return clients.error();
  out.clients = std::move(*clients);
  return out;
}

} // namespace

caf::behavior storage_actor(caf::event_based_actor* self, std::shared_ptr<storage::store> store) {
  auto st = std::make_shared<storage_state>();
  st->store = std::move(store);
  return {
    [=](load_atom, const std::string& id, const std::string& policy, bool create) -> caf::result<loaded_document> {
      auto r = load(*st->store, id, policy, create);
      if (!r)
        return to_caf(r.error());
      return std::move(*r);
    },
    [=](commit_atom, std::vector<storage::op_row>& rows) {
      st->pending.push_back({std::move(rows), self->make_response_promise()});
      if (!st->flush_scheduled) {
        st->flush_scheduled = true;
        // Lands behind every commit already queued: they share one transaction.
        self->send(self, flush_atom::value);
      }
    },
    [=](flush_atom) { flush(*st); },
    [=](snapshot_atom, const storage::snapshot_row& snap, std::uint64_t prune_through) -> caf::result<caf::ok_atom> {
      if (auto r = st->store->save_snapshot(snap, prune_through); !r)
        return to_caf(r.error());
      return caf::ok_atom::value;
    },
  };
}

} // namespace stet
