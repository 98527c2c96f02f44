// sqlite_store::commit: the commit plan (commit_plan.hpp), one statement
// run per op, document, session and snapshot step, in one IMMEDIATE
// transaction.
#include "storage/sqlite_store.hpp"

#include "storage/commit_plan.hpp"
#include "storage/sqlite_statement.hpp"
#include "storage/statements.hpp"

#include <chrono>

namespace stet::storage {

status sqlite_store::commit(const write_batch& batch) {
  auto plan = commit_plan::of(batch);
  if (!plan)
    return plan.error();
  if (batch.empty())
    return ok();
  if (auto st = exec("BEGIN IMMEDIATE"); !st)
    return st;
  auto fail = [&](error err) -> status {
    exec("ROLLBACK");
    return err;
  };
  for (auto& op : batch.ops) {
    auto& ins = prepared(sql::insert_ops.sqlite);
    ins.bind(1, op.doc_id).bind(2, op.rev).bind_blob(3, op.ops).bind(4, op.ts).bind(5, op.client_id);
    ins.bind(6, op.client_seq).bind_unless_zero(7, op.author_id).bind(8, op.epoch);
    if (auto st = run(ins, "append op"); !st)
      return fail(plan->explain(*this, st.error()));
    if (sqlite3_changes(db_) == 1)
      continue;
    // Already there: fine if it is this very edit (a retried commit).
    auto& same = prepared(sql::same_op.sqlite).bind(1, op.doc_id).bind(2, op.rev);
    bool match = same.step() == SQLITE_ROW && same.text(0) == op.client_id && same.u64(1) == op.client_seq;
    same.reset();
    if (!match)
      return fail(commit_plan::rev_taken(op));
  }
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch()).count();
  for (auto& a : plan->advances()) {
    auto& adv = prepared(sql::advance_documents.sqlite);
    adv.bind(1, a.last_rev).bind(2, a.last_ts).bind(3, static_cast<std::int64_t>(now)).bind(4, a.doc_id);
    adv.bind(5, a.epoch).bind(6, a.first_rev);
    if (auto st = run(adv, "advance document rev"); !st)
      return fail(st.error());
    if (sqlite3_changes(db_) == 0) {
      exec("ROLLBACK");
      auto stored = find_document(a.doc_id);
      if (!stored)
        return stored.error();
      return commit_plan::not_advanced(a, *stored);
    }
  }
  for (auto& e : batch.sessions) {
    auto& st = e.joined ? prepared(sql::session_join.sqlite).bind(1, e.session_id).bind(2, e.doc_id)
                            .bind(4, e.node_id).bind(5, e.at)
                        : prepared(sql::session_leave.sqlite).bind(1, e.at).bind(2, e.session_id).bind(3, e.doc_id);
    if (e.joined && !e.user_id.empty())
      st.bind(3, e.user_id);
    if (auto done = run(st, "record session"); !done)
      return fail(plan->explain(*this, done.error()));
  }
  // Each pruned client's newest sequence number is kept before its ops go.
  for (auto& snap : batch.snapshots) {
    if (auto st = run(prepared(sql::save_snapshot.sqlite).bind(1, snap.doc_id).bind(2, snap.rev), "save snapshot");
        !st)
      return fail(st.error());
    if (sqlite3_changes(db_) == 1) // not older than the stored one
      if (auto st = run(prepared(sql::save_content.sqlite).bind(1, snap.doc_id).bind(2, snap.content).bind(3, snap.comments),
                        "save snapshot");
          !st)
        return fail(st.error());
    for (auto* step : {&sql::keep_pruned_clients, &sql::prune_ops})
      if (auto st = run(prepared(step->sqlite).bind(1, snap.doc_id).bind(2, snap.prune_through), "save snapshot");
          !st)
        return fail(st.error());
  }
  if (auto st = exec("COMMIT"); !st)
    return fail(st.error());
  return ok();
}

} // namespace stet::storage
