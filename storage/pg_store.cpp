#include "storage/pg_store.hpp"

#include "storage/migrations.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
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

std::string bytea(const PGresult* r, int row, int col) {
  std::size_t n = 0;
  auto* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &n);
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

// Statements prepared on every connection: name, SQL.
struct statement {
  const char* name;
  const char* sql;
};

constexpr statement k_statements[] = {
  {"find_document",
   "SELECT id, title, content, snapshot_rev, rev, last_ts, policy, owner_epoch, created_at, updated_at "
   "FROM documents WHERE id = $1"},
  {"create_document",
   "INSERT INTO documents(id, title, content, policy, created_at, updated_at) VALUES($1, $2, $3, $4, $5, $5) "
   "ON CONFLICT (id) DO NOTHING"},
  {"ops_since",
   "SELECT rev, ops, client_id, client_seq, ts FROM document_ops WHERE doc_id = $1 AND rev > $2 ORDER BY rev"},
  {"client_seqs", "SELECT client_id, client_seq, rev FROM document_clients WHERE doc_id = $1"},
  // Returns a row when inserted, or when this very edit is already there.
  {"insert_op",
   "INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq) VALUES($1, $2, $3, $4, $5, $6) "
   "ON CONFLICT (doc_id, rev) DO UPDATE SET rev = document_ops.rev "
   "WHERE document_ops.client_id = EXCLUDED.client_id AND document_ops.client_seq = EXCLUDED.client_seq "
   "RETURNING rev"},
  {"record_client",
   "INSERT INTO document_clients(doc_id, client_id, client_seq, rev) VALUES($1, $2, $3, $4) "
   "ON CONFLICT (doc_id, client_id) DO UPDATE SET client_seq = EXCLUDED.client_seq, rev = EXCLUDED.rev "
   "WHERE EXCLUDED.client_seq > document_clients.client_seq"},
  {"advance_document", "UPDATE documents SET rev = $1, last_ts = $2, updated_at = $3 WHERE id = $4 AND rev < $1"},
  {"session_join",
   "INSERT INTO sessions(id, doc_id, user_id, node_id, connected_at) VALUES($1, $2, $3, $4, $5) "
   "ON CONFLICT (id, doc_id) DO UPDATE SET connected_at = EXCLUDED.connected_at, disconnected_at = NULL"},
  {"session_leave", "UPDATE sessions SET disconnected_at = $1 WHERE id = $2 AND doc_id = $3"},
  {"open_sessions",
   "SELECT id, doc_id, node_id, connected_at FROM sessions WHERE doc_id = $1 AND disconnected_at IS NULL "
   "ORDER BY connected_at, id"},
  {"close_node_sessions", "UPDATE sessions SET disconnected_at = $1 WHERE node_id = $2 AND disconnected_at IS NULL"},
  {"save_snapshot", "UPDATE documents SET content = $1, snapshot_rev = $2 WHERE id = $3 AND snapshot_rev <= $2"},
  {"prune_ops", "DELETE FROM document_ops WHERE doc_id = $1 AND rev <= $2"},
};

} // namespace

/// Parameters of one prepared statement: text values, bytea sent as binary,
/// empty optional values as NULL.
class pg_store::query {
public:
  query& text(std::string_view v) {
    add(std::string{v}, false, false);
    return *this;
  }
  query& number(std::uint64_t v) {
    add(std::to_string(v), false, false);
    return *this;
  }
  query& number(std::int64_t v) {
    add(std::to_string(v), false, false);
    return *this;
  }
  query& bytes(std::string_view v) {
    add(std::string{v}, true, false);
    return *this;
  }
  query& null_if_empty(std::string_view v) {
    add(std::string{v}, false, v.empty());
    return *this;
  }

  PGresult* run(PGconn* conn, const char* name) {
    prepare_arrays();
    return PQexecPrepared(conn, name, static_cast<int>(values_.size()), ptrs_.data(), lengths_.data(),
                          formats_.data(), 0);
  }
  bool send(PGconn* conn, const char* name) {
    prepare_arrays();
    return PQsendQueryPrepared(conn, name, static_cast<int>(values_.size()), ptrs_.data(), lengths_.data(),
                               formats_.data(), 0)
           == 1;
  }

private:
  void add(std::string v, bool binary, bool null) {
    values_.push_back(std::move(v));
    formats_.push_back(binary ? 1 : 0);
    nulls_.push_back(null);
  }
  void prepare_arrays() {
    ptrs_.clear();
    lengths_.clear();
    for (std::size_t i = 0; i < values_.size(); ++i) {
      ptrs_.push_back(nulls_[i] ? nullptr : values_[i].data());
      lengths_.push_back(static_cast<int>(values_[i].size()));
    }
  }
  std::vector<std::string> values_;
  std::vector<int> formats_;
  std::vector<bool> nulls_;
  std::vector<const char*> ptrs_;
  std::vector<int> lengths_;
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
  return make_error(errc::storage_unavailable, "postgres: " + std::string{what} + ": " + msg);
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
    if (result)
      result = exec("INSERT INTO schema_migrations(version, description, applied_at) VALUES("
                    + std::to_string(m.version) + ", '" + std::string{m.description} + "', "
                    + std::to_string(now_ms()) + ")");
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
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(id).run(conn_, "find_document"));
  if (!ok_status(r.get()))
    return lost("find document");
  if (PQntuples(r.get()) == 0)
    return std::optional<document_row>{};
  auto* p = r.get();
  document_row d;
  d.id = text(p, 0, 0);
  d.title = text(p, 0, 1);
  d.content = text(p, 0, 2);
  d.snapshot_rev = u64(p, 0, 3);
  d.rev = u64(p, 0, 4);
  d.last_ts = u64(p, 0, 5);
  d.policy = text(p, 0, 6);
  d.owner_epoch = u64(p, 0, 7);
  d.created_at = i64(p, 0, 8);
  d.updated_at = i64(p, 0, 9);
  return std::optional<document_row>{std::move(d)};
}

result<document_row> pg_store::create_document(const document_row& row) {
  if (auto st = ensure_connected(); !st)
    return st.error();
  auto r = wrap(query{}.text(row.id).text(row.title).text(row.content).text(row.policy).number(now_ms())
                  .run(conn_, "create_document"));
  if (!ok_status(r.get()))
    return lost("create document");
  auto found = find_document(row.id);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(errc::internal, "document " + row.id + " vanished after insert");
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
                   u64(r.get(), i, 3), u64(r.get(), i, 4)});
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

status pg_store::commit(const std::vector<op_row>& ops, const std::vector<session_event>& sessions) {
  if (ops.empty() && sessions.empty())
    return ok();
  if (auto st = ensure_connected(); !st)
    return st;
  // One round trip for the whole batch: BEGIN and every statement are
  // pipelined; COMMIT follows only when each of them succeeded.
  if (PQenterPipelineMode(conn_) != 1)
    return lost("enter pipeline mode");
  struct expectation {
    bool must_return_row;
    std::string what;
  };
  std::vector<expectation> sent;
  auto send = [&](query q, const char* name, bool must_return_row, std::string what) {
    if (!q.send(conn_, name))
      return false;
    sent.push_back({must_return_row, std::move(what)});
    return true;
  };
  bool sent_all = PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  if (sent_all)
    sent.push_back({false, "begin"});
  auto now = now_ms();
  for (std::size_t i = 0; sent_all && i < ops.size(); ++i) {
    auto& op = ops[i];
    sent_all = send(query{}.text(op.doc_id).number(op.rev).bytes(op.ops).number(op.ts).text(op.client_id)
                      .number(op.client_seq),
                    "insert_op", true,
                    "rev " + std::to_string(op.rev) + " of " + op.doc_id + " is already taken by another edit");
    if (sent_all && !op.client_id.empty())
      sent_all = send(query{}.text(op.doc_id).text(op.client_id).number(op.client_seq).number(op.rev),
                      "record_client", false, "record client");
    bool last_of_doc = i + 1 == ops.size() || ops[i + 1].doc_id != op.doc_id;
    if (sent_all && last_of_doc)
      sent_all = send(query{}.number(op.rev).number(op.ts).number(now).text(op.doc_id), "advance_document", false,
                      "advance document");
  }
  for (std::size_t i = 0; sent_all && i < sessions.size(); ++i) {
    auto& e = sessions[i];
    sent_all = e.joined ? send(query{}.text(e.session_id).text(e.doc_id).null_if_empty(e.user_id)
                                 .text(e.node_id).number(e.at),
                               "session_join", false, "record session")
                        : send(query{}.number(e.at).text(e.session_id).text(e.doc_id), "session_leave", false,
                               "record session");
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
      else if (e.must_return_row && PQntuples(r.get()) != 1)
        failure = e.what;
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
    if (failure.find("already taken") != std::string::npos)
      return make_error(errc::internal, failure);
    return lost("commit batch: " + failure);
  }
  auto c = wrap(PQexec(conn_, "COMMIT"));
  if (!ok_status(c.get()))
    return lost("commit");
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

status pg_store::save_snapshot(const snapshot_row& snap, std::uint64_t prune_through) {
  if (auto st = ensure_connected(); !st)
    return st;
  auto begin = wrap(PQexec(conn_, "BEGIN"));
  if (!ok_status(begin.get()))
    return lost("save snapshot");
  auto a = wrap(query{}.text(snap.content).number(snap.rev).text(snap.doc_id).run(conn_, "save_snapshot"));
  auto b = ok_status(a.get()) ? wrap(query{}.text(snap.doc_id).number(prune_through).run(conn_, "prune_ops"))
                              : wrap(nullptr);
  if (!ok_status(a.get()) || !b || !ok_status(b.get())) {
    auto err = lost("save snapshot");
    if (conn_)
      wrap(PQexec(conn_, "ROLLBACK"));
    return err;
  }
  auto c = wrap(PQexec(conn_, "COMMIT"));
  if (!ok_status(c.get()))
    return lost("save snapshot");
  return ok();
}

} // namespace stet::storage
