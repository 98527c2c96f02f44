#include "storage/sqlite_store.hpp"

#include "storage/migrations.hpp"
#include "storage/sqlite_statement.hpp"
#include "storage/statements.hpp"
#include "storage/text_rules.hpp"

#include <chrono>
#include <map>

namespace stet::storage {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

document_row read_document(sqlite_statement& st) {
  return {st.text(0), st.text(1),       st.text(2),  st.u64(3),  st.u64(4),  st.u64(5),
          st.text(6), st.u64(7),        st.int64(10), st.int64(11) != 0, st.int64(8), st.int64(9)};
}

user_row read_user_row(sqlite_statement& st) {
  return {st.int64(0), st.text(1), st.text(2), st.text(3), st.int64(4), st.int64(5)};
}

} // namespace

struct sqlite_store::cache {
  std::map<const char*, std::unique_ptr<sqlite_statement>> statements;
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

error sqlite_store::failed(std::string_view what) {
  // Values or SQL the database refuses: retrying cannot help.
  switch (sqlite3_errcode(db_)) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return make_error(errc::internal, "the database refused to " + std::string{what},
                        std::string{"sqlite: "} + sqlite3_errmsg(db_));
    default:
      return make_error(errc::storage_unavailable, "the database could not " + std::string{what} + "; retry shortly",
                        std::string{"sqlite: "} + sqlite3_errmsg(db_));
  }
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

status sqlite_store::run(sqlite_statement& st, std::string_view what) {
  return st.run() == SQLITE_DONE ? ok() : status{failed(what)};
}

sqlite_statement& sqlite_store::prepared(const char* sql) {
  auto& slot = cache_->statements[sql];
  if (!slot)
    slot = std::make_unique<sqlite_statement>(db_, sql);
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
    if (st)
      st = run(prepared("INSERT INTO schema_migrations(version, description, applied_at) VALUES(?,?,?)")
                 .bind(1, static_cast<std::int64_t>(m.version)).bind(2, m.description).bind(3, now_ms()),
               "record migration");
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

template <class T>
result<T> sqlite_store::in_transaction(const std::function<result<T>()>& body) {
  if (auto begun = exec("BEGIN IMMEDIATE"); !begun)
    return begun.error();
  auto r = body();
  if (!r) {
    exec("ROLLBACK");
    return r;
  }
  if (auto committed = exec("COMMIT"); !committed) {
    exec("ROLLBACK");
    return committed.error();
  }
  return r;
}

result<std::optional<document_row>> sqlite_store::find_document(std::string_view id) {
  if (holds_nul(id))
    return std::optional<document_row>{};
  return first<document_row>(prepared(sql::find_document.sqlite).bind(1, id), "find document",
                             [](sqlite_statement& st) {
                               auto row = read_document(st);
                               row.comments = st.text(12);
                               return row;
                             });
}

result<document_row> sqlite_store::create_document(const document_row& row) {
  if (auto st = check_texts(row); !st)
    return st.error();
  auto created = in_transaction<bool>([&]() -> result<bool> {
    auto now = now_ms();
    auto& ins = prepared(sql::create_document.sqlite);
    ins.bind(1, row.id).bind(2, row.title).bind(4, row.policy).bind(5, now).bind_unless_zero(6, row.owner_id);
    ins.bind(7, static_cast<std::int64_t>(row.is_public));
    if (auto st = run(ins, "create document"); !st)
      return st.error();
    if (sqlite3_changes(db_) == 0)
      return false; // there already, or deleted
    if (auto st = run(prepared(sql::create_content.sqlite).bind(1, row.id).bind(2, row.content), "create document");
        !st)
      return st.error();
    return true;
  });
  if (!created)
    return created.error();
  auto found = find_document(row.id);
  if (!found)
    return found.error();
  if (*found)
    return std::move(**found);
  auto deleted = first<bool>(prepared(sql::is_deleted.sqlite).bind(1, row.id), "create document",
                             [](sqlite_statement&) { return true; });
  if (deleted && *deleted)
    return make_error(errc::unknown_document, "document " + row.id + " was deleted");
  return make_error(errc::internal, "document " + row.id + " vanished after insert");
}

result<std::vector<op_row>> sqlite_store::ops_since(std::string_view doc_id, std::uint64_t after_rev) {
  return collect<op_row>(prepared(sql::ops_since.sqlite).bind(1, doc_id).bind(2, after_rev), "read op log",
                         [&](sqlite_statement& st) -> op_row {
                           return {std::string{doc_id}, st.u64(0), st.text(1), st.text(2),
                                   st.u64(3),           st.u64(4), st.int64(5)};
                         });
}

result<std::vector<client_seq_row>> sqlite_store::client_seqs(std::string_view doc_id) {
  return collect<client_seq_row>(prepared(sql::client_seqs.sqlite).bind(1, doc_id), "read client sequence numbers",
                                 [](sqlite_statement& st) -> client_seq_row {
                                   return {st.text(0), st.u64(1), st.u64(2)};
                                 });
}

result<std::vector<session_row>> sqlite_store::open_sessions(std::string_view doc_id) {
  return collect<session_row>(prepared(sql::open_sessions.sqlite).bind(1, doc_id), "read sessions",
                              [](sqlite_statement& st) -> session_row {
                                return {st.text(0), st.text(1), st.text(2), st.int64(3), 0};
                              });
}

status sqlite_store::close_node_sessions(std::string_view node_id, std::int64_t at) {
  return run(prepared(sql::close_node_sessions.sqlite).bind(1, at).bind(2, node_id), "close sessions");
}

result<user_row> sqlite_store::create_user(const user_row& user) {
  if (auto st = check_texts(user); !st)
    return st.error();
  auto now = now_ms();
  auto& st = prepared(sql::create_user.sqlite);
  st.bind(1, user.username).bind(3, user.password_hash).bind(4, now);
  if (!user.email.empty())
    st.bind(2, user.email);
  auto id = first<std::int64_t>(st, "create user", [](sqlite_statement& s) { return s.int64(0); });
  if (!id)
    return id.error();
  if (!*id)
    return make_error(errc::invalid_argument, "username is taken");
  auto created = user;
  created.id = **id;
  created.created_at = now;
  return created;
}

result<std::optional<user_row>> sqlite_store::find_user(std::string_view username) {
  if (holds_nul(username))
    return std::optional<user_row>{};
  return first<user_row>(prepared(sql::find_user.sqlite).bind(1, username), "find user", read_user_row);
}

result<std::optional<user_row>> sqlite_store::find_user_by_id(std::int64_t id) {
  return first<user_row>(prepared(sql::find_user_by_id.sqlite).bind(1, id), "find user", read_user_row);
}

result<std::optional<user_row>> sqlite_store::find_external_user(std::string_view issuer, std::string_view subject) {
  if (holds_nul(issuer) || holds_nul(subject))
    return std::optional<user_row>{};
  return first<user_row>(prepared(sql::find_external_user.sqlite).bind(1, issuer).bind(2, subject), "find user",
                         read_user_row);
}

status sqlite_store::link_external_user(std::string_view issuer, std::string_view subject, std::int64_t user_id) {
  if (holds_nul(issuer) || holds_nul(subject))
    return make_error(errc::nul_character, "an issuer or subject holds U+0000");
  return run(prepared(sql::link_external_user.sqlite).bind(1, issuer).bind(2, subject).bind(3, user_id), "link user");
}

result<std::int64_t> sqlite_store::revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) {
  auto& st = prepared(sql::revoke_tokens.sqlite);
  st.bind(1, user_id);
  if (new_password_hash)
    st.bind(2, *new_password_hash);
  auto epoch = first<std::int64_t>(st, "revoke tokens", [](sqlite_statement& s) { return s.int64(0); });
  if (!epoch)
    return epoch.error();
  if (!*epoch)
    return make_error(errc::unauthorized, "no such user");
  return **epoch;
}

result<std::vector<std::string>> sqlite_store::delete_user(std::int64_t user_id) {
  return in_transaction<std::vector<std::string>>([&]() -> result<std::vector<std::string>> {
    auto ids = collect<std::string>(prepared(sql::owned_documents.sqlite).bind(1, user_id), "list owned documents",
                                    [](sqlite_statement& s) { return s.text(0); });
    if (!ids)
      return ids.error();
    auto now = now_ms();
    for (auto& step : sql::delete_user_steps)
      if (auto st = run(prepared(step.sqlite).bind(1, user_id).bind(2, now), "delete account"); !st)
        return st.error();
    if (sqlite3_changes(db_) == 0) // the last step deletes the user
      return make_error(errc::unauthorized, "no such user");
    return ids;
  });
}

result<std::vector<listed_document>> sqlite_store::list_documents(std::int64_t user_id) {
  return collect<listed_document>(prepared(sql::list_documents.sqlite).bind(1, user_id), "list documents",
                                  [](sqlite_statement& st) -> listed_document {
                                    return {read_document(st), st.text(12)};
                                  });
}

status sqlite_store::delete_document(std::string_view id) {
  // Foreign keys cascade to ops, access list and client records; the
  // tombstone keeps the id from being created again.
  auto done = in_transaction<bool>([&]() -> result<bool> {
    if (auto st = run(prepared(sql::delete_document.sqlite).bind(1, id), "delete document"); !st)
      return st.error();
    if (sqlite3_changes(db_) == 1)
      if (auto st = run(prepared(sql::add_tombstone.sqlite).bind(1, id).bind(2, now_ms()), "delete document"); !st)
        return st.error();
    return true;
  });
  return done ? ok() : status{done.error()};
}

result<std::uint64_t> sqlite_store::set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) {
  return in_transaction<std::uint64_t>([&]() -> result<std::uint64_t> {
    auto version = first<std::uint64_t>(prepared(sql::bump_acl_version.sqlite).bind(1, doc_id), "set role",
                                        [](sqlite_statement& s) { return s.u64(0); });
    if (!version)
      return version.error();
    if (!*version)
      return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
    auto& st = role.empty() ? prepared(sql::remove_role.sqlite) : prepared(sql::set_role.sqlite).bind(3, role);
    if (auto done = run(st.bind(1, doc_id).bind(2, user_id), "set role"); !done)
      return done.error();
    return **version;
  });
}

result<acl_snapshot> sqlite_store::access_list(std::string_view doc_id) {
  acl_snapshot out;
  auto rows = collect<acl_row>(prepared(sql::access_list.sqlite).bind(1, doc_id), "read access list",
                               [&](sqlite_statement& st) -> acl_row {
                                 out.version = st.u64(0);
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
  return collect<history_row>(prepared(sql::history.sqlite).bind(1, doc_id), "read history",
                              [](sqlite_statement& st) -> history_row {
                                return {st.u64(0), st.text(1), st.int64(2), st.text(3), st.u64(4)};
                              });
}

result<std::uint64_t> sqlite_store::acquire_lease(std::string_view doc_id, std::string_view node_id) {
  auto epoch = first<std::uint64_t>(prepared(sql::acquire_lease.sqlite).bind(1, node_id).bind(2, doc_id),
                                    "acquire lease", [](sqlite_statement& s) { return s.u64(0); });
  if (!epoch)
    return epoch.error();
  if (!*epoch)
    return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
  return **epoch;
}

} // namespace stet::storage
