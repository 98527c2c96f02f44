#include "storage/pg_store.hpp"
#include "storage/text_rules.hpp"

#include "storage/migrations.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace stet::storage {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

result_ptr wrap(PGresult* r) {
  return result_ptr{r, &PQclear};
}

bool ok_status(const PGresult* r) {
  auto s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

std::uint64_t u64(const PGresult* r, int row, int col) {
  return std::strtoull(PQgetvalue(r, row, col), nullptr, 10);
}

std::int64_t i64(const PGresult* r, int row, int col) {
  return std::strtoll(PQgetvalue(r, row, col), nullptr, 10);
}

std::string text(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
}

/// A one-dimensional array literal in PostgreSQL's text format, for
/// unnest($n::type[]) parameters.
class array_literal {
public:
  void text(std::string_view v) {
    separate();
    out_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\')
        out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  /// bytea in hex form; the backslash is escaped for the array parser.
  void bytes(std::string_view v) {
    static constexpr char hex[] = "0123456789abcdef";
    separate();
    out_ += "\"\\\\x";
    for (unsigned char c : v) {
      out_ += hex[c >> 4];
      out_ += hex[c & 15];
    }
    out_ += '"';
  }
  void number(std::uint64_t v) {
    separate();
    out_ += std::to_string(v);
  }
  void number(std::int64_t v) {
    separate();
    out_ += std::to_string(v);
  }
  void null() {
    separate();
    out_ += "NULL";
  }
  std::string str() const {
    return "{" + out_ + "}";
  }

private:
  void separate() {
    if (!out_.empty())
      out_ += ',';
  }
  std::string out_;
};

std::string bytea(const PGresult* r, int row, int col) {
  std::size_t n = 0;
  auto* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &n);
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

document_row read_document(const PGresult* p, int row) {
  document_row d;
  d.id = text(p, row, 0);
  d.title = text(p, row, 1);
  d.content = text(p, row, 2);
  d.snapshot_rev = u64(p, row, 3);
  d.rev = u64(p, row, 4);
  d.last_ts = u64(p, row, 5);
  d.policy = text(p, row, 6);
  d.owner_epoch = u64(p, row, 7);
  d.created_at = i64(p, row, 8);
  d.updated_at = i64(p, row, 9);
  d.owner_id = i64(p, row, 10);
  d.is_public = text(p, row, 11) == "t";
  return d;
}

// Statements prepared on every connection: name, SQL.
struct statement {
  const char* name;
  const char* sql;
};

constexpr statement k_statements[] = {
  {"find_document",
   "SELECT id, title, content, snapshot_rev, rev, last_ts, policy, owner_epoch, created_at, updated_at, "
   "COALESCE(owner_id, 0), is_public FROM documents WHERE id = $1"},
  {"list_documents",
   "SELECT id, title, content, snapshot_rev, rev, last_ts, policy, owner_epoch, created_at, updated_at, "
   "COALESCE(owner_id, 0), is_public FROM documents "
   "WHERE owner_id = $1 OR id IN (SELECT doc_id FROM document_acl WHERE user_id = $1) "
   "ORDER BY updated_at DESC, id"},
  {"create_document",
   "INSERT INTO documents(id, title, content, policy, created_at, updated_at, owner_id, is_public) "
   "SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $5::bigint, $6::bigint, $7::boolean "
   "WHERE NOT EXISTS (SELECT 1 FROM deleted_documents WHERE id = $1::text) "
   "ON CONFLICT (id) DO NOTHING"},
  {"is_deleted", "SELECT 1 FROM deleted_documents WHERE id = $1"},
  {"ops_since",
   "SELECT rev, ops, client_id, client_seq, ts, COALESCE(author_id, 0) FROM document_ops "
   "WHERE doc_id = $1 AND rev > $2 ORDER BY rev"},
  {"create_user",
   "INSERT INTO users(username, email, password_hash, created_at) VALUES($1, $2, $3, $4) "
   "ON CONFLICT (username) DO NOTHING RETURNING id"},
  {"find_user",
   "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE username = $1"},
  {"find_user_by_id",
   "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE id = $1"},
  {"revoke_tokens",
   "UPDATE users SET token_epoch = token_epoch + 1, password_hash = COALESCE($2, password_hash) WHERE id = $1 "
   "RETURNING token_epoch"},
  {"delete_document",
   "WITH gone AS (DELETE FROM documents WHERE id = $1 RETURNING id) "
   "INSERT INTO deleted_documents(id, deleted_at) SELECT id, $2::bigint FROM gone ON CONFLICT (id) DO NOTHING"},
  // set_role runs these in one transaction. The bump locks the document's
  // row, so changes to one list are numbered in the order they commit; the
  // change itself is a statement of its own, whose snapshot (taken after
  // the lock was granted) sees the change committed before it.
  {"bump_acl_version", "UPDATE documents SET acl_version = acl_version + 1 WHERE id = $1 RETURNING acl_version"},
  {"remove_role", "DELETE FROM document_acl WHERE doc_id = $1 AND user_id = $2"},
  {"set_role",
   "INSERT INTO document_acl(doc_id, user_id, role) VALUES($1, $2, $3) "
   "ON CONFLICT (doc_id, user_id) DO UPDATE SET role = EXCLUDED.role"},
  // One statement, one snapshot: the entries are those of the version.
  {"access_list",
   "SELECT d.acl_version, COALESCE(a.user_id, 0), COALESCE(u.username, ''), COALESCE(a.role, '') FROM documents d "
   "LEFT JOIN document_acl a ON a.doc_id = d.id LEFT JOIN users u ON u.id = a.user_id "
   "WHERE d.id = $1 ORDER BY u.username"},
  {"history",
   "SELECT o.rev, o.client_id, COALESCE(o.author_id, 0), COALESCE(u.username, ''), o.ts "
   "FROM document_ops o LEFT JOIN users u ON u.id = o.author_id WHERE o.doc_id = $1 ORDER BY o.rev"},
  // The op log holds each client's newest edits; document_clients keeps
  // what compaction pruned from it.
  {"client_seqs",
   "SELECT client_id, MAX(client_seq), MAX(rev) FROM ("
   "SELECT client_id, client_seq, rev FROM document_clients WHERE doc_id = $1 UNION ALL "
   "SELECT COALESCE(author_id, 0)::text || ':' || client_id, client_seq, rev FROM document_ops "
   "WHERE doc_id = $1 AND client_id <> '') c "
   "GROUP BY client_id"},
  // A whole batch in one statement each (per-statement work was most of
  // PostgreSQL's CPU per edit). Returns a row per op inserted, or already
  // there as this very edit.
  {"insert_ops",
   "INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq, author_id, epoch) "
   "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[], $5::text[], $6::bigint[], "
   "$7::bigint[], $8::bigint[]) "
   "ON CONFLICT (doc_id, rev) DO UPDATE SET rev = document_ops.rev "
   "WHERE document_ops.client_id = EXCLUDED.client_id AND document_ops.client_seq = EXCLUDED.client_seq "
   "RETURNING doc_id, rev"},
  // rev only grows; the epoch check fences a node whose lease was taken
  // over. Returns a row per document advanced.
  {"advance_documents",
   "UPDATE documents d SET rev = GREATEST(d.rev, v.rev), last_ts = GREATEST(d.last_ts, v.ts), updated_at = $5 "
   "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, rev, ts, epoch) "
   "WHERE d.id = v.id AND d.owner_epoch = v.epoch RETURNING d.id"},
  {"acquire_lease",
   "UPDATE documents SET owner_epoch = owner_epoch + 1, owner_node = $2 WHERE id = $1 RETURNING owner_epoch"},
  {"session_join",
   "INSERT INTO sessions(id, doc_id, user_id, node_id, connected_at) VALUES($1, $2, $3, $4, $5) "
   "ON CONFLICT (id, doc_id) DO UPDATE SET connected_at = EXCLUDED.connected_at, disconnected_at = NULL"},
  {"session_leave", "UPDATE sessions SET disconnected_at = $1 WHERE id = $2 AND doc_id = $3"},
  {"open_sessions",
   "SELECT id, doc_id, node_id, connected_at FROM sessions WHERE doc_id = $1 AND disconnected_at IS NULL "
   "ORDER BY connected_at, id"},
  {"close_node_sessions", "UPDATE sessions SET disconnected_at = $1 WHERE node_id = $2 AND disconnected_at IS NULL"},
  {"save_snapshot", "UPDATE documents SET content = $1, snapshot_rev = $2 WHERE id = $3 AND snapshot_rev <= $2"},
  {"keep_pruned_clients",
   "INSERT INTO document_clients(doc_id, client_id, client_seq, rev) "
   "SELECT doc_id, COALESCE(author_id, 0)::text || ':' || client_id, MAX(client_seq), MAX(rev) "
   "FROM document_ops WHERE doc_id = $1 AND rev <= $2 AND client_id <> '' "
   "GROUP BY doc_id, COALESCE(author_id, 0), client_id "
   "ON CONFLICT (doc_id, client_id) DO UPDATE SET client_seq = EXCLUDED.client_seq, rev = EXCLUDED.rev "
   "WHERE EXCLUDED.client_seq > document_clients.client_seq"},
  {"prune_ops", "DELETE FROM document_ops WHERE doc_id = $1 AND rev <= $2"},
};

} // namespace

/// Parameters of one prepared statement, all in text format (bytea goes
/// inside array literals, hex-encoded); empty optional values as NULL.
class pg_store::query {
public:
  query& text(std::string_view v) {
    return add(std::string{v}, false);
  }
  query& number(std::uint64_t v) {
    return add(std::to_string(v), false);
  }
  query& number(std::int64_t v) {
    return add(std::to_string(v), false);
  }
  query& null_if_empty(std::string_view v) {
    return add(std::string{v}, v.empty());
  }
  query& null_if_zero(std::int64_t v) {
    return add(std::to_string(v), v == 0);
  }
  query& boolean(bool v) {
    return add(v ? "true" : "false", false);
  }

  PGresult* run(PGconn* conn, const char* name) {
    prepare_arrays();
    return PQexecPrepared(conn, name, static_cast<int>(values_.size()), ptrs_.data(), nullptr, nullptr, 0);
  }
  /// Runs `sql` unprepared, with the same out-of-band parameters.
  PGresult* run_sql(PGconn* conn, const char* sql) {
    prepare_arrays();
    return PQexecParams(conn, sql, static_cast<int>(values_.size()), nullptr, ptrs_.data(), nullptr, nullptr, 0);
  }
  bool send(PGconn* conn, const char* name) {
    prepare_arrays();
    return PQsendQueryPrepared(conn, name, static_cast<int>(values_.size()), ptrs_.data(), nullptr, nullptr, 0)
           == 1;
  }

private:
  query& add(std::string v, bool null) {
    values_.push_back(std::move(v));
    nulls_.push_back(null);
    return *this;
  }
  void prepare_arrays() {
    ptrs_.clear();
    for (std::size_t i = 0; i < values_.size(); ++i)
      ptrs_.push_back(nulls_[i] ? nullptr : values_[i].c_str());
  }
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<const char*> ptrs_;
};

pg_store::pg_store(std::string conninfo) : conninfo_(std::move(conninfo)) {
}

pg_store::~pg_store() {
  if (conn_)
    PQfinish(conn_);
}

result<std::unique_ptr<store>> pg_store::open(const std::string& conninfo) {
  std::unique_ptr<pg_store> s{new pg_store(conninfo)};
  if (auto st = s->ensure_connected(); !st)
    return st.error();
  if (auto st = s->migrate(); !st)
    return st.error();
  return std::unique_ptr<store>{std::move(s)};
}

stet::error pg_store::lost(std::string_view what) {
  std::string msg = conn_ ? PQerrorMessage(conn_) : "not connected";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  if (conn_ && PQstatus(conn_) != CONNECTION_OK) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  // The server's text can name hosts, roles and SQL: operators read it in
  // the log, clients only learn which step failed.
  return make_error(errc::storage_unavailable, "the database could not " + std::string{what} + "; retry shortly",
                    "postgres: " + msg);
}

status pg_store::ensure_connected() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK)
    return ok();
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK)
    return lost("connect");
  // Server NOTICEs ("relation already exists, skipping") are not our log.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  for (auto& s : k_statements) {
    // Tables may not exist before the first migration; prepare lazily then.
    auto r = wrap(PQprepare(conn_, s.name, s.sql, 0, nullptr));
    if (!ok_status(r.get()))
      break;
  }
  return ok();
}

int pg_store::schema_version() {
  if (!ensure_connected())
    return 0;
  auto r = wrap(PQexec(conn_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  return ok_status(r.get()) && PQntuples(r.get()) == 1 ? static_cast<int>(i64(r.get(), 0, 0)) : 0;
}

status pg_store::migrate() {
  auto exec = [this](const std::string& sql) -> status {
    auto r = wrap(PQexec(conn_, sql.c_str()));
    if (!ok_status(r.get()))
      return lost("migrate");
    return ok();
  };
  if (auto st = exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at BIGINT NOT NULL)");
      !st) {
    // Two nodes creating it at once: one wins, the other sees a duplicate.
    if (auto again = ensure_connected(); !again)
      return again;
  }
  // Session-level advisory lock: one node migrates, the others wait and then
  // find nothing left to do.
  if (auto st = exec("SELECT pg_advisory_lock(736574)"); !st)
    return st;
  status result = ok();
  for (auto& m : migrations()) {
    if (schema_version() >= m.version)
      continue;
    result = exec("BEGIN");
    if (result)
      result = exec(std::string{m.postgres});
    if (result) {
      auto r = wrap(query{}.number(static_cast<std::int64_t>(m.version)).text(m.description).number(now_ms())
                      .run_sql(conn_, "INSERT INTO schema_migrations(version, description, applied_at) "
                                      "VALUES($1, $2, $3)"));
      if (!ok_status(r.get()))
        result = lost("record migration");
    }
    if (result)
      result = exec("COMMIT");
    if (!result) {
      exec("ROLLBACK");
      break;
    }
  }
  exec("SELECT pg_advisory_unlock(736574)");
  if (!result)
    return result;
  // Reconnect so every statement is prepared against the final schema.
  PQfinish(conn_);
  conn_ = nullptr;
  return ensure_connected();
}

result<std::optional<document_row>> pg_store::find_document(std::string_view id) {
  if (holds_nul(id))
    return std::optional<document_row>{};
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(id).run(conn_, "find_document"));
  if (!ok_status(r.get()))
    return lost("find document");
  if (PQntuples(r.get()) == 0)
    return std::optional<document_row>{};
  return std::optional<document_row>{read_document(r.get(), 0)};
}

result<document_row> pg_store::create_document(const document_row& row) {
  if (auto st = check_texts(row); !st)
    return st.error();
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(row.id).text(row.title).text(row.content).text(row.policy).number(now_ms())
                  .null_if_zero(row.owner_id).boolean(row.is_public).run(conn_, "create_document"));
  if (!ok_status(r.get()))
    return lost("create document");
  auto found = find_document(row.id);
  if (!found)
    return found.error();
  if (!*found) {
    auto deleted = wrap(query{}.text(row.id).run(conn_, "is_deleted"));
    if (ok_status(deleted.get()) && PQntuples(deleted.get()) == 1)
      return make_error(errc::unknown_document, "document " + row.id + " was deleted");
    return make_error(errc::internal, "document " + row.id + " vanished after insert");
  }
  return std::move(**found);
}

result<std::vector<op_row>> pg_store::ops_since(std::string_view doc_id, std::uint64_t after_rev) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).number(after_rev).run(conn_, "ops_since"));
  if (!ok_status(r.get()))
    return lost("read op log");
  std::vector<op_row> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.push_back({std::string{doc_id}, u64(r.get(), i, 0), bytea(r.get(), i, 1), text(r.get(), i, 2),
                   u64(r.get(), i, 3), u64(r.get(), i, 4), i64(r.get(), i, 5)});
  return out;
}

result<std::vector<client_seq_row>> pg_store::client_seqs(std::string_view doc_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).run(conn_, "client_seqs"));
  if (!ok_status(r.get()))
    return lost("read client sequence numbers");
  std::vector<client_seq_row> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.push_back({text(r.get(), i, 0), u64(r.get(), i, 1), u64(r.get(), i, 2)});
  return out;
}

status pg_store::commit(const write_batch& batch) {
  if (auto st = check_texts(batch); !st)
    return st.error();
  if (batch.empty())
    return ok();
  auto& ops = batch.ops;
  auto& sessions = batch.sessions;
  if (auto st = ensure_connected(); !st)
    return st;
  // One round trip for the whole batch: BEGIN and every statement are
  // pipelined; COMMIT follows only when each of them succeeded.
  if (PQenterPipelineMode(conn_) != 1)
    return lost("enter pipeline mode");
  // Each statement sent, and what its result must show (empty: any success).
  using check = std::function<std::string(PGresult*)>;
  std::vector<check> sent;
  auto send = [&](query q, const char* name, check c = {}) {
    if (!q.send(conn_, name))
      return false;
    sent.push_back(std::move(c));
    return true;
  };
  bool sent_all = PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  if (sent_all)
    sent.emplace_back();
  // What each document advances to (outlives the checks that refer to it).
  struct advance {
    std::uint64_t rev = 0, ts = 0, epoch = 0;
  };
  std::map<std::string_view, advance> docs;
  if (sent_all && !ops.empty()) {
    array_literal doc_ids, revs, bodies, stamps, clients, seqs, authors, epochs;
    for (auto& op : ops) {
      doc_ids.text(op.doc_id);
      revs.number(op.rev);
      bodies.bytes(op.ops);
      stamps.number(op.ts);
      clients.text(op.client_id);
      seqs.number(op.client_seq);
      op.author_id == 0 ? authors.null() : authors.number(op.author_id);
      epochs.number(op.epoch);
      auto& d = docs[op.doc_id];
      d = {std::max(d.rev, op.rev), std::max(d.ts, op.ts), op.epoch};
    }
    sent_all = send(query{}.text(doc_ids.str()).text(revs.str()).text(bodies.str()).text(stamps.str())
                      .text(clients.str()).text(seqs.str()).text(authors.str()).text(epochs.str()),
                    "insert_ops", [&ops](PGresult* r) -> std::string {
                      if (PQntuples(r) == static_cast<int>(ops.size()))
                        return {};
                      std::set<std::pair<std::string, std::uint64_t>> stored;
                      for (int i = 0; i < PQntuples(r); ++i)
                        stored.emplace(text(r, i, 0), u64(r, i, 1));
                      for (auto& op : ops)
                        if (!stored.count({op.doc_id, op.rev}))
                          return "rev " + std::to_string(op.rev) + " of " + op.doc_id
                                 + " is already taken by another edit";
                      return "an op was not stored";
                    });
    array_literal ids, newest, last_ts, leased;
    for (auto& [id, d] : docs) {
      ids.text(id);
      newest.number(d.rev);
      last_ts.number(d.ts);
      leased.number(d.epoch);
    }
    sent_all = sent_all
               && send(query{}.text(ids.str()).text(newest.str()).text(last_ts.str()).text(leased.str())
                         .number(now_ms()),
                       "advance_documents", [&docs](PGresult* r) -> std::string {
                         if (PQntuples(r) == static_cast<int>(docs.size()))
                           return {};
                         std::set<std::string> advanced;
                         for (int i = 0; i < PQntuples(r); ++i)
                           advanced.insert(text(r, i, 0));
                         for (auto& [id, d] : docs)
                           if (!advanced.count(std::string{id}))
                             return "fenced: document " + std::string{id} + " is no longer leased at epoch "
                                    + std::to_string(d.epoch) + " (or was deleted)";
                         return "a document was not advanced";
                       });
  }
  for (std::size_t i = 0; sent_all && i < sessions.size(); ++i) {
    auto& e = sessions[i];
    sent_all = e.joined ? send(query{}.text(e.session_id).text(e.doc_id).null_if_empty(e.user_id)
                                 .text(e.node_id).number(e.at),
                               "session_join")
                        : send(query{}.number(e.at).text(e.session_id).text(e.doc_id), "session_leave");
  }
  for (std::size_t i = 0; sent_all && i < batch.snapshots.size(); ++i) {
    auto& snap = batch.snapshots[i];
    sent_all = send(query{}.text(snap.content).number(snap.rev).text(snap.doc_id), "save_snapshot")
               && send(query{}.text(snap.doc_id).number(snap.prune_through), "keep_pruned_clients")
               && send(query{}.text(snap.doc_id).number(snap.prune_through), "prune_ops");
  }
  if (!sent_all || PQpipelineSync(conn_) != 1) {
    auto err = lost("send batch");
    if (conn_) {
      // Drain what was sent before leaving pipeline mode.
      PQfinish(conn_);
      conn_ = nullptr;
    }
    return err;
  }
  std::string failure;
  for (auto& e : sent) {
    auto r = wrap(PQgetResult(conn_));
    if (!r) {
      failure = "missing result";
      break;
    }
    if (failure.empty()) {
      if (!ok_status(r.get()))
        failure = PQresultStatus(r.get()) == PGRES_PIPELINE_ABORTED ? "aborted" : PQresultErrorMessage(r.get());
      else if (e)
        failure = e(r.get());
    }
    while (auto extra = PQgetResult(conn_))
      PQclear(extra); // the NULL that ends each query's results
  }
  auto sync = wrap(PQgetResult(conn_));
  if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC || PQexitPipelineMode(conn_) != 1) {
    auto err = lost("finish pipeline");
    if (conn_) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    return err;
  }
  if (!failure.empty()) {
    wrap(PQexec(conn_, "ROLLBACK"));
    if (auto gone = deleted_in(batch); !gone)
      return gone;
    if (failure.find("already taken") != std::string::npos)
      return make_error(errc::internal, failure);
    if (failure.rfind("fenced: ", 0) == 0)
      return make_error(errc::fenced, failure.substr(8));
    auto err = lost("commit the batch");
    err.detail += err.detail.empty() ? failure : "; " + failure;
    return err;
  }
  auto c = wrap(PQexec(conn_, "COMMIT"));
  if (!ok_status(c.get()))
    return lost("commit");
  return ok();
}

status pg_store::deleted_in(const write_batch& batch) {
  for (std::size_t i = 0; i < batch.ops.size(); ++i) {
    if (i > 0 && batch.ops[i - 1].doc_id == batch.ops[i].doc_id)
      continue;
    auto found = find_document(batch.ops[i].doc_id);
    if (found && !*found)
      return make_error(errc::unknown_document, "document " + batch.ops[i].doc_id + " was deleted");
  }
  return ok();
}

result<std::vector<session_row>> pg_store::open_sessions(std::string_view doc_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).run(conn_, "open_sessions"));
  if (!ok_status(r.get()))
    return lost("read sessions");
  std::vector<session_row> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.push_back({text(r.get(), i, 0), text(r.get(), i, 1), text(r.get(), i, 2), i64(r.get(), i, 3), 0});
  return out;
}

status pg_store::close_node_sessions(std::string_view node_id, std::int64_t at) {
  if (auto st = ensure_connected(); !st)
    return st;
  auto r = wrap(query{}.number(at).text(node_id).run(conn_, "close_node_sessions"));
  if (!ok_status(r.get()))
    return lost("close sessions");
  return ok();
}

result<user_row> pg_store::create_user(const user_row& user) {
  if (auto st = check_texts(user); !st)
    return st.error();
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto now = now_ms();
  auto r = wrap(query{}.text(user.username).null_if_empty(user.email).text(user.password_hash).number(now)
                  .run(conn_, "create_user"));
  if (!ok_status(r.get()))
    return lost("create user");
  if (PQntuples(r.get()) == 0)
    return make_error(errc::invalid_argument, "username is taken");
  auto created = user;
  created.id = i64(r.get(), 0, 0);
  created.created_at = now;
  return created;
}

namespace {

std::optional<user_row> read_user(const PGresult* r) {
  if (PQntuples(r) == 0)
    return std::nullopt;
  return user_row{i64(r, 0, 0), text(r, 0, 1), text(r, 0, 2), text(r, 0, 3), i64(r, 0, 4), i64(r, 0, 5)};
}

} // namespace

result<std::optional<user_row>> pg_store::find_user(std::string_view username) {
  if (holds_nul(username))
    return std::optional<user_row>{};
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(username).run(conn_, "find_user"));
  if (!ok_status(r.get()))
    return lost("find user");
  return read_user(r.get());
}

result<std::optional<user_row>> pg_store::find_user_by_id(std::int64_t id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.number(id).run(conn_, "find_user_by_id"));
  if (!ok_status(r.get()))
    return lost("find user");
  return read_user(r.get());
}

result<std::int64_t> pg_store::revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) {
  if (new_password_hash)
    if (auto st = check_texts(user_row{0, "", "", *new_password_hash}); !st)
      return st.error();
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.number(user_id).null_if_empty(new_password_hash.value_or("")).run(conn_, "revoke_tokens"));
  if (!ok_status(r.get()))
    return lost("revoke tokens");
  if (PQntuples(r.get()) == 0)
    return make_error(errc::unauthorized, "no such user");
  return i64(r.get(), 0, 0);
}

result<std::vector<std::string>> pg_store::delete_user(std::int64_t user_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto step = [&](const char* sql) { return wrap(query{}.number(user_id).number(now_ms()).run_sql(conn_, sql)); };
  auto begin = wrap(PQexec(conn_, "BEGIN"));
  if (!ok_status(begin.get()))
    return lost("delete account");
  auto owned = step("SELECT id FROM documents WHERE owner_id = $1 AND $2::bigint IS NOT NULL FOR UPDATE");
  std::vector<std::string> ids;
  bool good = ok_status(owned.get());
  for (int i = 0; good && i < PQntuples(owned.get()); ++i)
    ids.push_back(text(owned.get(), i, 0));
  std::int64_t removed = 0;
  for (const char* sql : {"INSERT INTO deleted_documents(id, deleted_at) SELECT id, $2::bigint FROM documents "
                          "WHERE owner_id = $1 ON CONFLICT (id) DO NOTHING",
                          "DELETE FROM documents WHERE owner_id = $1 AND $2::bigint IS NOT NULL",
                          "UPDATE document_ops SET author_id = NULL WHERE author_id = $1 AND $2::bigint IS NOT NULL",
                          "UPDATE documents SET acl_version = acl_version + 1 WHERE $2::bigint IS NOT NULL AND "
                          "id IN (SELECT doc_id FROM document_acl WHERE user_id = $1)",
                          "DELETE FROM document_acl WHERE user_id = $1 AND $2::bigint IS NOT NULL",
                          "DELETE FROM users WHERE id = $1 AND $2::bigint IS NOT NULL"}) {
    if (!good)
      break;
    auto r = step(sql);
    good = ok_status(r.get());
    if (good && std::string_view{sql}.starts_with("DELETE FROM users"))
      removed = std::atoll(PQcmdTuples(r.get()));
  }
  if (!good) {
    auto err = lost("delete account");
    if (conn_)
      wrap(PQexec(conn_, "ROLLBACK"));
    return err;
  }
  if (removed == 0) {
    wrap(PQexec(conn_, "ROLLBACK"));
    return make_error(errc::unauthorized, "no such user");
  }
  auto c = wrap(PQexec(conn_, "COMMIT"));
  if (!ok_status(c.get()))
    return lost("delete account");
  return ids;
}

result<std::vector<document_row>> pg_store::list_documents(std::int64_t user_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.number(user_id).run(conn_, "list_documents"));
  if (!ok_status(r.get()))
    return lost("list documents");
  std::vector<document_row> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.push_back(read_document(r.get(), i));
  return out;
}

status pg_store::delete_document(std::string_view id) {
  if (auto st = ensure_connected(); !st)
    return st;
  auto r = wrap(query{}.text(id).number(now_ms()).run(conn_, "delete_document"));
  if (!ok_status(r.get()))
    return lost("delete document");
  return ok();
}

result<std::uint64_t> pg_store::set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto begin = wrap(PQexec(conn_, "BEGIN"));
  if (!ok_status(begin.get()))
    return lost("set role");
  auto rollback = [&] {
    if (conn_)
      wrap(PQexec(conn_, "ROLLBACK"));
  };
  auto bumped = wrap(query{}.text(doc_id).run(conn_, "bump_acl_version"));
  if (!ok_status(bumped.get())) {
    auto err = lost("set role");
    rollback();
    return err;
  }
  if (PQntuples(bumped.get()) == 0) {
    rollback();
    return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
  }
  auto r = role.empty() ? wrap(query{}.text(doc_id).number(user_id).run(conn_, "remove_role"))
                        : wrap(query{}.text(doc_id).number(user_id).text(role).run(conn_, "set_role"));
  if (!ok_status(r.get())) {
    auto err = lost("set role");
    rollback();
    return err;
  }
  auto c = wrap(PQexec(conn_, "COMMIT"));
  if (!ok_status(c.get()))
    return lost("set role");
  return u64(bumped.get(), 0, 0);
}

result<acl_snapshot> pg_store::access_list(std::string_view doc_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).run(conn_, "access_list"));
  if (!ok_status(r.get()))
    return lost("read access list");
  acl_snapshot out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.version = u64(r.get(), i, 0);
    if (auto user = i64(r.get(), i, 1); user != 0) // else: nobody was given a role
      out.entries.push_back({user, text(r.get(), i, 2), text(r.get(), i, 3)});
  }
  return out;
}

result<std::vector<history_row>> pg_store::history(std::string_view doc_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).run(conn_, "history"));
  if (!ok_status(r.get()))
    return lost("read history");
  std::vector<history_row> out;
  for (int i = 0; i < PQntuples(r.get()); ++i)
    out.push_back({u64(r.get(), i, 0), text(r.get(), i, 1), i64(r.get(), i, 2), text(r.get(), i, 3),
                   u64(r.get(), i, 4)});
  return out;
}

result<std::uint64_t> pg_store::acquire_lease(std::string_view doc_id, std::string_view node_id) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(doc_id).text(node_id).run(conn_, "acquire_lease"));
  if (!ok_status(r.get()))
    return lost("acquire lease");
  if (PQntuples(r.get()) == 0)
    return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
  return u64(r.get(), 0, 0);
}

} // namespace stet::storage
