#include "storage/sqlite_store.hpp"
#include "storage/text_rules.hpp"

#include "storage/migrations.hpp"

#include <sqlite3.h>

#include <chrono>
#include <map>

namespace stet::storage {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

stet::error sqlite_error(sqlite3* db, std::string_view what) {
  return make_error(errc::storage_unavailable, "the database could not " + std::string{what} + "; retry shortly",
                    std::string{"sqlite: "} + sqlite3_errmsg(db));
}

} // namespace

/// A prepared statement, reset after every use so it can be reused.
class sqlite_store::statement {
public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }
  ~statement() {
    sqlite3_finalize(stmt_);
  }
  bool valid() const {
    return stmt_ != nullptr;
  }
  statement& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  statement& bind_blob(int i, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  statement& bind(int i, std::uint64_t v) {
    return bind(i, static_cast<std::int64_t>(v));
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() {
    return sqlite3_step(stmt_);
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) {
    auto p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string{};
  }
  std::int64_t int64(int col) {
    return sqlite3_column_int64(stmt_, col);
  }

private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

struct sqlite_store::cache {
  std::map<const char*, std::unique_ptr<statement>> statements;
};

sqlite_store::sqlite_store(sqlite3* db) : db_(db), cache_(std::make_unique<cache>()) {
}

sqlite_store::~sqlite_store() {
  cache_.reset(); // finalize statements before closing
  sqlite3_close(db_);
}

result<std::unique_ptr<store>> sqlite_store::open(const std::string& path) {
  // Memory statistics take a global mutex on every allocation; stet never
  // reads them. Only possible before SQLite initialises, hence once.
  static const bool configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)configured;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr)
      != SQLITE_OK) {
    auto err = make_error(errc::storage_unavailable, "cannot open the SQLite database",
                          path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return err;
  }
  std::unique_ptr<sqlite_store> s{new sqlite_store(db)};
  sqlite3_busy_timeout(db, 5000);
  // A 16 MiB page cache keeps the op logs' hot leaves in memory (the 2 MiB
  // default re-read them from the file at every commit). Checkpointing
  // every 10,000 WAL pages instead of 1,000 copies each hot page back to the
  // database once per ten times as many commits.
  for (auto pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                      "PRAGMA cache_size=-16384", "PRAGMA wal_autocheckpoint=10000"})
    if (auto st = s->exec(pragma); !st)
      return st.error();
  if (auto st = s->migrate(); !st)
    return st.error();
  return std::unique_ptr<store>{std::move(s)};
}

status sqlite_store::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return make_error(errc::storage_unavailable, "the database could not run a statement; retry shortly",
                      "sqlite: " + text);
  }
  return ok();
}

template <class Row, class Read>
result<std::vector<Row>> sqlite_store::collect(statement& st, const char* what, Read read) {
  std::vector<Row> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back(read(st));
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, what);
  return out;
}

sqlite_store::statement& sqlite_store::prepared(const char* sql) {
  auto& slot = cache_->statements[sql];
  if (!slot)
    slot = std::make_unique<statement>(db_, sql);
  return *slot;
}

int sqlite_store::schema_version() {
  auto& st = prepared("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  int v = st.step() == SQLITE_ROW ? static_cast<int>(st.int64(0)) : 0;
  st.reset();
  return v;
}

status sqlite_store::migrate() {
  if (auto st = exec("CREATE TABLE IF NOT EXISTS schema_migrations("
                     "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
      !st)
    return st;
  for (auto& m : migrations()) {
    // BEGIN IMMEDIATE takes the write lock first, so two processes starting
    // on one file apply each migration once.
    if (auto st = exec("BEGIN IMMEDIATE"); !st)
      return st;
    if (schema_version() >= m.version) {
      exec("ROLLBACK");
      continue;
    }
    auto st = exec(std::string{m.sqlite}.c_str());
    if (st) {
      auto& ins = prepared("INSERT INTO schema_migrations(version, description, applied_at) VALUES(?,?,?)");
      ins.bind(1, static_cast<std::int64_t>(m.version)).bind(2, m.description).bind(3, now_ms());
      if (ins.step() != SQLITE_DONE)
        st = sqlite_error(db_, "record migration");
      ins.reset();
    }
    if (!st) {
      exec("ROLLBACK");
      return make_error(errc::storage_unavailable, "migration " + std::to_string(m.version) + " failed",
                        describe(st.error()));
    }
    if (auto c = exec("COMMIT"); !c)
      return c;
  }
  return ok();
}

namespace {

#define STET_DOCUMENT_COLUMNS                                                                                  \
  "SELECT d.id, d.title, COALESCE(c.content, ''), d.snapshot_rev, d.rev, d.last_ts, d.policy, d.owner_epoch, "   \
  "d.created_at, d.updated_at, COALESCE(d.owner_id, 0), d.is_public "                                           \
  "FROM documents d LEFT JOIN document_content c ON c.doc_id = d.id "

constexpr const char* k_select_document = STET_DOCUMENT_COLUMNS "WHERE d.id = ?";

constexpr const char* k_list_documents =
  STET_DOCUMENT_COLUMNS "WHERE d.owner_id = ?1 OR d.id IN (SELECT doc_id FROM document_acl WHERE user_id = ?1) "
                        "ORDER BY d.updated_at DESC, d.id";

#undef STET_DOCUMENT_COLUMNS

} // namespace

namespace {

document_row read_document(sqlite_store::statement& st) {
  document_row d;
  d.id = st.text(0);
  d.title = st.text(1);
  d.content = st.text(2);
  d.snapshot_rev = static_cast<std::uint64_t>(st.int64(3));
  d.rev = static_cast<std::uint64_t>(st.int64(4));
  d.last_ts = static_cast<std::uint64_t>(st.int64(5));
  d.policy = st.text(6);
  d.owner_epoch = static_cast<std::uint64_t>(st.int64(7));
  d.created_at = st.int64(8);
  d.updated_at = st.int64(9);
  d.owner_id = st.int64(10);
  d.is_public = st.int64(11) != 0;
  return d;
}

} // namespace

result<std::optional<document_row>> sqlite_store::find_document(std::string_view id) {
  if (holds_nul(id))
    return std::optional<document_row>{};
  auto& st = prepared(k_select_document);
  st.bind(1, id);
  auto rc = st.step();
  std::optional<document_row> out;
  if (rc == SQLITE_ROW)
    out = read_document(st);
  st.reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_error(db_, "find document");
  return out;
}

result<document_row> sqlite_store::create_document(const document_row& row) {
  if (auto st = check_texts(row); !st)
    return st.error();
  if (auto begun = exec("BEGIN IMMEDIATE"); !begun)
    return begun.error();
  auto& tomb = prepared("SELECT 1 FROM deleted_documents WHERE id = ?");
  tomb.bind(1, row.id);
  bool deleted = tomb.step() == SQLITE_ROW;
  tomb.reset();
  if (deleted) {
    exec("ROLLBACK");
    return make_error(errc::unknown_document, "document " + row.id + " was deleted");
  }
  auto& st = prepared("INSERT OR IGNORE INTO documents(id, title, snapshot_rev, rev, policy, "
                      "created_at, updated_at, owner_id, is_public) VALUES(?,?,0,0,?,?,?,?,?)");
  auto now = now_ms();
  st.bind(1, row.id).bind(2, row.title).bind(3, row.policy).bind(4, now).bind(5, now);
  if (row.owner_id != 0)
    st.bind(6, row.owner_id);
  st.bind(7, static_cast<std::int64_t>(row.is_public));
  auto rc = st.step();
  st.reset();
  if (rc == SQLITE_DONE && sqlite3_changes(db_) == 1) {
    auto& text = prepared("INSERT INTO document_content(doc_id, content) VALUES(?,?)");
    text.bind(1, row.id).bind(2, row.content);
    rc = text.step();
    text.reset();
  }
  if (rc != SQLITE_DONE) {
    auto err = sqlite_error(db_, "create document");
    exec("ROLLBACK");
    return err;
  }
  if (auto committed = exec("COMMIT"); !committed) {
    exec("ROLLBACK");
    return committed.error();
  }
  auto found = find_document(row.id);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(errc::internal, "document " + row.id + " vanished after insert");
  return std::move(**found);
}

result<std::vector<op_row>> sqlite_store::ops_since(std::string_view doc_id, std::uint64_t after_rev) {
  auto& st = prepared("SELECT rev, ops, client_id, client_seq, ts, COALESCE(author_id, 0) FROM document_ops "
                      "WHERE doc_id = ? AND rev > ? ORDER BY rev");
  st.bind(1, doc_id).bind(2, after_rev);
  std::vector<op_row> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    op_row r;
    r.doc_id = std::string{doc_id};
    r.rev = static_cast<std::uint64_t>(st.int64(0));
    r.ops = st.text(1);
    r.client_id = st.text(2);
    r.client_seq = static_cast<std::uint64_t>(st.int64(3));
    r.ts = static_cast<std::uint64_t>(st.int64(4));
    r.author_id = st.int64(5);
    out.push_back(std::move(r));
  }
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, "read op log");
  return out;
}

result<std::vector<client_seq_row>> sqlite_store::client_seqs(std::string_view doc_id) {
  // The op log holds each client's newest edits; document_clients keeps
  // what compaction pruned from it.
  auto& st = prepared("SELECT client_id, MAX(client_seq), MAX(rev) FROM ("
                      "SELECT client_id, client_seq, rev FROM document_clients WHERE doc_id = ?1 UNION ALL "
                      "SELECT COALESCE(author_id, 0) || ':' || client_id, client_seq, rev FROM document_ops "
                      "WHERE doc_id = ?1 AND client_id <> '') "
                      "GROUP BY client_id");
  st.bind(1, doc_id);
  return collect<client_seq_row>(st, "read client sequence numbers", [](statement& st) -> client_seq_row {
    return {st.text(0), static_cast<std::uint64_t>(st.int64(1)), static_cast<std::uint64_t>(st.int64(2))};
  });
}

status sqlite_store::commit(const write_batch& batch) {
  if (auto st = check_texts(batch); !st)
    return st.error();
  if (batch.empty())
    return ok();
  auto& ops = batch.ops;
  if (auto st = exec("BEGIN IMMEDIATE"); !st)
    return st;
  auto fail = [this, &batch](stet::error err) -> status {
    exec("ROLLBACK");
    if (auto gone = deleted_in(batch); !gone)
      return gone;
    return err;
  };
  auto& ins = prepared("INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq, author_id, epoch) "
                       "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(doc_id, rev) DO NOTHING");
  auto& same = prepared("SELECT client_id, client_seq FROM document_ops WHERE doc_id = ? AND rev = ?");
  // rev only grows (a retried batch must not move it back); the epoch check
  // fences a node whose lease was taken over.
  auto& doc = prepared("UPDATE documents SET rev = MAX(rev, ?1), last_ts = MAX(last_ts, ?2), updated_at = ?3 "
                       "WHERE id = ?4 AND owner_epoch = ?5");
  auto now = now_ms();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    ins.bind(1, op.doc_id).bind(2, op.rev).bind_blob(3, op.ops).bind(4, op.ts).bind(5, op.client_id);
    ins.bind(6, op.client_seq);
    if (op.author_id != 0)
      ins.bind(7, op.author_id);
    ins.bind(8, op.epoch);
    auto rc = ins.step();
    ins.reset();
    if (rc != SQLITE_DONE)
      return fail(sqlite_error(db_, "append op"));
    if (sqlite3_changes(db_) == 0) {
      // Already there: fine if it is this very edit (a retried commit).
      same.bind(1, op.doc_id).bind(2, op.rev);
      bool match = same.step() == SQLITE_ROW && same.text(0) == op.client_id
                   && static_cast<std::uint64_t>(same.int64(1)) == op.client_seq;
      same.reset();
      if (!match)
        return fail(make_error(errc::internal, "rev " + std::to_string(op.rev) + " of " + op.doc_id
                                                 + " is already taken by another edit"));
    }
    // One documents update per document: at its last op in the batch.
    bool last_of_doc = i + 1 == ops.size() || ops[i + 1].doc_id != op.doc_id;
    if (last_of_doc) {
      doc.bind(1, op.rev).bind(2, op.ts).bind(3, now).bind(4, op.doc_id).bind(5, op.epoch);
      rc = doc.step();
      doc.reset();
      if (rc != SQLITE_DONE)
        return fail(sqlite_error(db_, "advance document rev"));
      if (sqlite3_changes(db_) == 0)
        return fail(make_error(errc::fenced, "document " + op.doc_id + " is no longer leased at epoch "
                                               + std::to_string(op.epoch) + " (or was deleted)"));
    }
  }
  auto& join = prepared("INSERT INTO sessions(id, doc_id, user_id, node_id, connected_at) VALUES(?,?,?,?,?) "
                        "ON CONFLICT(id, doc_id) DO UPDATE SET connected_at = excluded.connected_at, "
                        "disconnected_at = NULL");
  auto& leave = prepared("UPDATE sessions SET disconnected_at = ? WHERE id = ? AND doc_id = ?");
  for (auto& e : batch.sessions) {
    auto& st = e.joined ? join : leave;
    if (e.joined) {
      join.bind(1, e.session_id).bind(2, e.doc_id).bind(4, e.node_id).bind(5, e.at);
      if (!e.user_id.empty())
        join.bind(3, e.user_id);
    } else {
      leave.bind(1, e.at).bind(2, e.session_id).bind(3, e.doc_id);
    }
    auto rc = st.step();
    st.reset();
    if (rc != SQLITE_DONE)
      return fail(sqlite_error(db_, "record session"));
  }
  auto& snapshot = prepared("UPDATE documents SET snapshot_rev = ?2 WHERE id = ?1 AND snapshot_rev <= ?2");
  auto& text = prepared("INSERT INTO document_content(doc_id, content) VALUES(?,?) "
                        "ON CONFLICT(doc_id) DO UPDATE SET content = excluded.content");
  // Client sequence numbers live in the op log; what compaction prunes
  // from it is kept in document_clients first.
  auto& keep = prepared("INSERT INTO document_clients(doc_id, client_id, client_seq, rev) "
                        "SELECT doc_id, COALESCE(author_id, 0) || ':' || client_id, MAX(client_seq), MAX(rev) "
                        "FROM document_ops WHERE doc_id = ?1 AND rev <= ?2 AND client_id <> '' "
                        "GROUP BY doc_id, COALESCE(author_id, 0), client_id "
                        "ON CONFLICT(doc_id, client_id) DO UPDATE SET client_seq = excluded.client_seq, "
                        "rev = excluded.rev WHERE excluded.client_seq > document_clients.client_seq");
  auto& prune = prepared("DELETE FROM document_ops WHERE doc_id = ? AND rev <= ?");
  for (auto& snap : batch.snapshots) {
    snapshot.bind(1, snap.doc_id).bind(2, snap.rev);
    auto rc = snapshot.step();
    snapshot.reset();
    if (rc == SQLITE_DONE && sqlite3_changes(db_) == 1) { // not older than the stored one
      text.bind(1, snap.doc_id).bind(2, snap.content);
      rc = text.step();
      text.reset();
    }
    for (auto* step : {&keep, &prune}) {
      if (rc != SQLITE_DONE)
        break;
      step->bind(1, snap.doc_id).bind(2, snap.prune_through);
      rc = step->step();
      step->reset();
    }
    if (rc != SQLITE_DONE)
      return fail(sqlite_error(db_, "save snapshot"));
  }
  if (auto st = exec("COMMIT"); !st) {
    exec("ROLLBACK");
    return st;
  }
  return ok();
}

result<std::vector<session_row>> sqlite_store::open_sessions(std::string_view doc_id) {
  auto& st = prepared("SELECT id, doc_id, node_id, connected_at FROM sessions "
                      "WHERE doc_id = ? AND disconnected_at IS NULL ORDER BY connected_at, id");
  st.bind(1, doc_id);
  return collect<session_row>(st, "read sessions", [](statement& st) -> session_row {
    return {st.text(0), st.text(1), st.text(2), st.int64(3), 0};
  });
}

status sqlite_store::close_node_sessions(std::string_view node_id, std::int64_t at) {
  auto& st = prepared("UPDATE sessions SET disconnected_at = ? WHERE node_id = ? AND disconnected_at IS NULL");
  st.bind(1, at).bind(2, node_id);
  auto rc = st.step();
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, "close sessions");
  return ok();
}

result<user_row> sqlite_store::create_user(const user_row& user) {
  if (auto st = check_texts(user); !st)
    return st.error();
  auto& st = prepared("INSERT INTO users(username, email, password_hash, created_at) VALUES(?,?,?,?) "
                      "ON CONFLICT(username) DO NOTHING");
  auto now = now_ms();
  st.bind(1, user.username);
  if (!user.email.empty())
    st.bind(2, user.email);
  st.bind(3, user.password_hash).bind(4, now);
  auto rc = st.step();
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, "create user");
  if (sqlite3_changes(db_) == 0)
    return make_error(errc::invalid_argument, "username is taken");
  auto created = user;
  created.id = sqlite3_last_insert_rowid(db_);
  created.created_at = now;
  return created;
}

result<std::optional<user_row>> sqlite_store::find_user(std::string_view username) {
  if (holds_nul(username))
    return std::optional<user_row>{};
  auto& st = prepared("SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users "
                      "WHERE username = ?");
  st.bind(1, username);
  return read_user(st);
}

result<std::optional<user_row>> sqlite_store::find_user_by_id(std::int64_t id) {
  auto& st = prepared("SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users "
                      "WHERE id = ?");
  st.bind(1, id);
  return read_user(st);
}

result<std::optional<user_row>> sqlite_store::read_user(statement& st) {
  std::optional<user_row> out;
  auto rc = st.step();
  if (rc == SQLITE_ROW)
    out = user_row{st.int64(0), st.text(1), st.text(2), st.text(3), st.int64(4), st.int64(5)};
  st.reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite_error(db_, "find user");
  return out;
}

result<std::int64_t> sqlite_store::revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) {
  auto& st = prepared("UPDATE users SET token_epoch = token_epoch + 1, password_hash = COALESCE(?2, password_hash) "
                      "WHERE id = ?1 RETURNING token_epoch");
  st.bind(1, user_id);
  if (new_password_hash)
    st.bind(2, *new_password_hash);
  auto rc = st.step();
  std::int64_t epoch = rc == SQLITE_ROW ? st.int64(0) : 0;
  while (rc == SQLITE_ROW)
    rc = st.step();
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, "revoke tokens");
  if (epoch == 0)
    return make_error(errc::unauthorized, "no such user");
  return epoch;
}

result<std::vector<std::string>> sqlite_store::delete_user(std::int64_t user_id) {
  if (auto begun = exec("BEGIN IMMEDIATE"); !begun)
    return begun.error();
  auto fail = [this](stet::error e) -> result<std::vector<std::string>> {
    exec("ROLLBACK");
    return e;
  };
  auto& owned = prepared("SELECT id FROM documents WHERE owner_id = ?");
  owned.bind(1, user_id);
  auto ids = collect<std::string>(owned, "list owned documents", [](statement& s) { return s.text(0); });
  if (!ids)
    return fail(ids.error());
  auto now = now_ms();
  for (const char* sql : {"INSERT OR IGNORE INTO deleted_documents(id, deleted_at) "
                          "SELECT id, ?2 FROM documents WHERE owner_id = ?1",
                          "DELETE FROM documents WHERE owner_id = ?1",
                          "UPDATE document_ops SET author_id = NULL WHERE author_id = ?1",
                          "UPDATE documents SET acl_version = acl_version + 1 "
                          "WHERE id IN (SELECT doc_id FROM document_acl WHERE user_id = ?1)",
                          "DELETE FROM document_acl WHERE user_id = ?1", "DELETE FROM users WHERE id = ?1"}) {
    auto& st = prepared(sql);
    st.bind(1, user_id);
    if (std::string_view{sql}.find("?2") != std::string_view::npos)
      st.bind(2, now);
    auto rc = st.step();
    st.reset();
    if (rc != SQLITE_DONE)
      return fail(sqlite_error(db_, "delete account"));
    if (std::string_view{sql}.starts_with("DELETE FROM users") && sqlite3_changes(db_) == 0)
      return fail(make_error(errc::unauthorized, "no such user"));
  }
  if (auto committed = exec("COMMIT"); !committed)
    return fail(committed.error());
  return std::move(*ids);
}

result<std::vector<document_row>> sqlite_store::list_documents(std::int64_t user_id) {
  auto& st = prepared(k_list_documents);
  st.bind(1, user_id);
  return collect<document_row>(st, "list documents", [](statement& st) -> document_row {
    return read_document(st);
  });
}

status sqlite_store::delete_document(std::string_view id) {
  // Foreign keys cascade to ops, access list and client records; the
  // tombstone keeps the id from being created again.
  if (auto begun = exec("BEGIN IMMEDIATE"); !begun)
    return begun;
  auto& st = prepared("DELETE FROM documents WHERE id = ?");
  st.bind(1, id);
  auto rc = st.step();
  st.reset();
  if (rc == SQLITE_DONE && sqlite3_changes(db_) == 1) {
    auto& tomb = prepared("INSERT OR IGNORE INTO deleted_documents(id, deleted_at) VALUES(?,?)");
    tomb.bind(1, id).bind(2, now_ms());
    rc = tomb.step();
    tomb.reset();
  }
  if (rc != SQLITE_DONE) {
    auto err = sqlite_error(db_, "delete document");
    exec("ROLLBACK");
    return err;
  }
  return exec("COMMIT");
}

status sqlite_store::deleted_in(const write_batch& batch) {
  for (std::size_t i = 0; i < batch.ops.size(); ++i) {
    if (i > 0 && batch.ops[i - 1].doc_id == batch.ops[i].doc_id)
      continue;
    auto found = find_document(batch.ops[i].doc_id);
    if (found && !*found)
      return make_error(errc::unknown_document, "document " + batch.ops[i].doc_id + " was deleted");
  }
  return ok();
}

result<std::uint64_t> sqlite_store::set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) {
  if (auto begun = exec("BEGIN IMMEDIATE"); !begun)
    return begun.error();
  auto fail = [&](error e) -> result<std::uint64_t> {
    exec("ROLLBACK");
    return e;
  };
  auto& bump = prepared("UPDATE documents SET acl_version = acl_version + 1 WHERE id = ? RETURNING acl_version");
  bump.bind(1, doc_id);
  auto rc = bump.step();
  std::uint64_t version = rc == SQLITE_ROW ? static_cast<std::uint64_t>(bump.int64(0)) : 0;
  bump.reset();
  if (rc == SQLITE_DONE)
    return fail(make_error(errc::unknown_document, "no document with id " + std::string{doc_id}));
  if (rc != SQLITE_ROW)
    return fail(sqlite_error(db_, "set role"));
  auto& del = prepared("DELETE FROM document_acl WHERE doc_id = ? AND user_id = ?");
  auto& put = prepared("INSERT INTO document_acl(doc_id, user_id, role) VALUES(?,?,?) "
                       "ON CONFLICT(doc_id, user_id) DO UPDATE SET role = excluded.role");
  auto& st = role.empty() ? del : put;
  st.bind(1, doc_id).bind(2, user_id);
  if (!role.empty())
    st.bind(3, role);
  rc = st.step();
  st.reset();
  if (rc != SQLITE_DONE)
    return fail(sqlite_error(db_, "set role"));
  if (auto committed = exec("COMMIT"); !committed)
    return fail(committed.error());
  return version;
}

result<acl_snapshot> sqlite_store::access_list(std::string_view doc_id) {
  auto& st = prepared("SELECT d.acl_version, a.user_id, u.username, a.role FROM documents d "
                      "LEFT JOIN document_acl a ON a.doc_id = d.id LEFT JOIN users u ON u.id = a.user_id "
                      "WHERE d.id = ? ORDER BY u.username");
  st.bind(1, doc_id);
  acl_snapshot out;
  auto rows = collect<acl_row>(st, "read access list", [&](statement& st) -> acl_row {
    out.version = static_cast<std::uint64_t>(st.int64(0));
    return {st.int64(1), st.text(2), st.text(3)};
  });
  if (!rows)
    return rows.error();
  for (auto& r : *rows)
    if (r.user_id != 0) // the document's own row when nobody was given a role
      out.entries.push_back(std::move(r));
  return out;
}

result<std::vector<history_row>> sqlite_store::history(std::string_view doc_id) {
  auto& st = prepared("SELECT o.rev, o.client_id, COALESCE(o.author_id, 0), COALESCE(u.username, ''), o.ts "
                      "FROM document_ops o LEFT JOIN users u ON u.id = o.author_id WHERE o.doc_id = ? ORDER BY o.rev");
  st.bind(1, doc_id);
  return collect<history_row>(st, "read history", [](statement& st) -> history_row {
    return {static_cast<std::uint64_t>(st.int64(0)), st.text(1), st.int64(2), st.text(3),
                   static_cast<std::uint64_t>(st.int64(4))};
  });
}

result<std::uint64_t> sqlite_store::acquire_lease(std::string_view doc_id, std::string_view node_id) {
  auto& st = prepared("UPDATE documents SET owner_epoch = owner_epoch + 1, owner_node = ? WHERE id = ? "
                      "RETURNING owner_epoch");
  st.bind(1, node_id).bind(2, doc_id);
  auto rc = st.step();
  std::uint64_t epoch = rc == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
  if (rc == SQLITE_ROW)
    rc = st.step();
  st.reset();
  if (rc != SQLITE_DONE)
    return sqlite_error(db_, "acquire lease");
  if (epoch == 0)
    return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
  return epoch;
}

} // namespace stet::storage
