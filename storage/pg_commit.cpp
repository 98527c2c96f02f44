// pg_store::commit: the commit plan (commit_plan.hpp) in one round trip.
// BEGIN and every statement go out pipelined; COMMIT follows only when
// each answered as the plan expects. Ops and document advances go as
// arrays, one statement each, whatever the batch's size: per-statement
// work was most of PostgreSQL's CPU per edit.
#include "storage/pg_store.hpp"

#include "storage/commit_plan.hpp"
#include "storage/pg_connection.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <set>

namespace stet::storage {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// What a statement's answer must show; an error when it does not. The
// second member names the document that did not advance, if that is why.
struct failure {
  error err;
  const document_advance* not_advanced = nullptr;
};
using check = std::function<std::optional<failure>(const pg_rows&)>;

pg_params ops_params(const write_batch& batch) {
  pg_array doc_ids, revs, bodies, stamps, clients, seqs, authors, epochs;
  for (auto& op : batch.ops) {
    doc_ids.text(op.doc_id);
    revs.number(op.rev);
    bodies.bytes(op.ops);
    stamps.number(op.ts);
    clients.text(op.client_id);
    seqs.number(op.client_seq);
    op.author_id == 0 ? authors.null() : authors.number(op.author_id);
    epochs.number(op.epoch);
  }
  return pg_params{}.text(doc_ids.str()).text(revs.str()).text(bodies.str()).text(stamps.str())
    .text(clients.str()).text(seqs.str()).text(authors.str()).text(epochs.str());
}

// A row comes back per op stored, or already there as this very edit.
check every_op_stored(const write_batch& batch) {
  return [&batch](const pg_rows& r) -> std::optional<failure> {
    if (r.size() == static_cast<int>(batch.ops.size()))
      return std::nullopt;
    std::set<std::pair<std::string, std::uint64_t>> stored;
    for (int i = 0; i < r.size(); ++i)
      stored.emplace(r.text(i, 0), r.u64(i, 1));
    for (auto& op : batch.ops)
      if (!stored.count({op.doc_id, op.rev}))
        return failure{commit_plan::rev_taken(op)};
    return failure{make_error(errc::internal, "an op was not stored")};
  };
}

pg_params advance_params(const commit_plan& plan) {
  pg_array ids, newest, last_ts, leased, first;
  for (auto& a : plan.advances()) {
    ids.text(a.doc_id);
    newest.number(a.last_rev);
    last_ts.number(a.last_ts);
    leased.number(a.epoch);
    first.number(a.first_rev);
  }
  return pg_params{}.text(ids.str()).text(newest.str()).text(last_ts.str()).text(leased.str()).text(first.str())
    .number(now_ms());
}

// A row comes back per document advanced.
check every_document_advanced(const commit_plan& plan) {
  return [&plan](const pg_rows& r) -> std::optional<failure> {
    if (r.size() == static_cast<int>(plan.advances().size()))
      return std::nullopt;
    std::set<std::string> advanced;
    for (int i = 0; i < r.size(); ++i)
      advanced.insert(r.text(i, 0));
    for (auto& a : plan.advances())
      if (!advanced.count(a.doc_id))
        return failure{make_error(errc::internal, "not advanced"), &a};
    return failure{make_error(errc::internal, "a document was not advanced")};
  };
}

} // namespace

status pg_store::commit(const write_batch& batch) {
  auto plan = commit_plan::of(batch);
  if (!plan)
    return plan.error();
  if (batch.empty())
    return ok();
  if (auto st = db_->ensure(); !st)
    return st;
  auto* conn = db_->raw();
  if (PQenterPipelineMode(conn) != 1)
    return db_->lost("enter pipeline mode");
  std::vector<check> sent; // what each statement sent must answer (empty: any success)
  auto send = [&](const sql::statement& s, const pg_params& p, check c = {}) {
    auto ptrs = p.pointers();
    if (PQsendQueryPrepared(conn, s.name, p.size(), ptrs.data(), nullptr, nullptr, 0) != 1)
      return false;
    sent.push_back(std::move(c));
    return true;
  };
  bool sent_all = PQsendQueryParams(conn, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  if (sent_all)
    sent.emplace_back();
  if (sent_all && !batch.ops.empty())
    sent_all = send(sql::insert_ops, ops_params(batch), every_op_stored(batch))
               && send(sql::advance_documents, advance_params(*plan), every_document_advanced(*plan));
  for (std::size_t i = 0; sent_all && i < batch.sessions.size(); ++i) {
    auto& e = batch.sessions[i];
    sent_all = e.joined ? send(sql::session_join, pg_params{}.text(e.session_id).text(e.doc_id)
                                                   .null_if_empty(e.user_id).text(e.node_id).number(e.at))
                        : send(sql::session_leave, pg_params{}.number(e.at).text(e.session_id).text(e.doc_id));
  }
  for (std::size_t i = 0; sent_all && i < batch.snapshots.size(); ++i) {
    auto& snap = batch.snapshots[i];
    sent_all = send(sql::save_snapshot,
                    pg_params{}.text(snap.doc_id).number(snap.rev).text(snap.content).text(snap.comments))
               && send(sql::keep_pruned_clients, pg_params{}.text(snap.doc_id).number(snap.prune_through))
               && send(sql::prune_ops, pg_params{}.text(snap.doc_id).number(snap.prune_through));
  }
  if (!sent_all || PQpipelineSync(conn) != 1) {
    auto err = db_->lost("send batch");
    db_->reset(); // drains what was sent
    return err;
  }
  std::optional<failure> failed;
  for (auto& c : sent) {
    auto* raw = PQgetResult(conn);
    if (!raw) {
      failed = failure{db_->lost("read the batch's answers")};
      break;
    }
    pg_rows r{raw};
    if (!failed) {
      auto s = PQresultStatus(raw);
      if (s == PGRES_PIPELINE_ABORTED) // after the statement that failed: its error is the one
        failed = failure{make_error(errc::storage_unavailable, "the database could not commit the batch",
                                    "postgres: aborted")};
      else if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        failed = failure{db_->refused(r, "commit the batch")};
      else if (c)
        failed = c(r);
    }
    while (auto extra = PQgetResult(conn))
      PQclear(extra); // the NULL that ends each query's results
  }
  auto* sync = PQgetResult(conn);
  bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync)
    PQclear(sync);
  if (!synced || PQexitPipelineMode(conn) != 1) {
    auto err = db_->lost("finish pipeline");
    db_->reset();
    return err;
  }
  if (failed) {
    db_->rollback();
    if (failed->not_advanced) {
      auto stored = find_document(failed->not_advanced->doc_id);
      if (!stored)
        return stored.error();
      return commit_plan::not_advanced(*failed->not_advanced, *stored);
    }
    return plan->explain(*this, std::move(failed->err));
  }
  if (auto c = db_->exec("COMMIT", "commit"); !c)
    return c.error();
  return ok();
}

} // namespace stet::storage
