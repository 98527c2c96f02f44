#include "storage/pg_store.hpp"

#include "storage/commit_plan.hpp"
#include "storage/migrations.hpp"
#include "storage/pg_connection.hpp"
#include "storage/text_rules.hpp"

#include <chrono>

namespace stet::storage {

namespace {

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

document_row read_document(const pg_rows& r, int i) {
  return {r.text(i, 0),  r.text(i, 1),  r.text(i, 2),  r.u64(i, 3), r.u64(i, 4),   r.u64(i, 5),   r.text(i, 6),
          r.u64(i, 7),   r.i64(i, 10),  r.boolean(i, 11), r.i64(i, 8), r.i64(i, 9)};
}

user_row read_user(const pg_rows& r, int i) {
  return {r.i64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.i64(i, 4), r.i64(i, 5)};
}

} // namespace

pg_store::pg_store(std::string conninfo) : db_(std::make_unique<pg_connection>(std::move(conninfo))) {
}

pg_store::~pg_store() = default;

result<std::unique_ptr<store>> pg_store::open(const std::string& conninfo) {
  std::unique_ptr<pg_store> s{new pg_store(conninfo)};
  if (auto st = s->db_->ensure(); !st)
    return st.error();
  if (auto st = s->migrate(); !st)
    return st.error();
  return std::unique_ptr<store>{std::move(s)};
}

std::unique_ptr<store> pg_store::open_replica(const std::string& conninfo) {
  return std::unique_ptr<store>{new pg_store(conninfo)};
}

int pg_store::schema_version() {
  auto r = db_->exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "read the schema version");
  return r && r->size() == 1 ? static_cast<int>(r->i64(0, 0)) : 0;
}

status pg_store::migrate() {
  if (!db_->exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
                 "description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                 "migrate")) {
    // Two nodes creating it at once: one wins, the other sees a duplicate.
    if (auto again = db_->ensure(); !again)
      return again;
  }
  // Session-level advisory lock: one node migrates, the others wait and then
  // find nothing left to do.
  if (auto locked = db_->exec("SELECT pg_advisory_lock(736574)", "migrate"); !locked)
    return locked.error();
  status result = ok();
  for (auto& m : migrations()) {
    if (schema_version() >= m.version)
      continue;
    auto step = [&](const std::string& sql, const pg_params& p = {}) -> status {
      auto r = db_->exec(sql, "migrate", p);
      return r ? ok() : status{r.error()};
    };
    result = step("BEGIN");
    if (result)
      result = step(std::string{m.postgres});
    if (result)
      result = step("INSERT INTO schema_migrations(version, description, applied_at) VALUES($1, $2, $3)",
                    pg_params{}.number(static_cast<std::int64_t>(m.version)).text(m.description).number(now_ms()));
    if (result)
      result = step("COMMIT");
    if (!result) {
      db_->rollback();
      break;
    }
  }
  (void)db_->exec("SELECT pg_advisory_unlock(736574)", "migrate");
  if (!result)
    return result;
  // Reconnect so every statement is prepared against the final schema.
  db_->reset();
  return db_->ensure();
}

result<std::optional<document_row>> pg_store::find_document(std::string_view id) {
  if (holds_nul(id))
    return std::optional<document_row>{};
  auto r = db_->run(sql::find_document, pg_params{}.text(id), "find document");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return std::optional<document_row>{};
  auto row = read_document(*r, 0);
  row.comments = r->text(0, 12);
  return std::optional<document_row>{std::move(row)};
}

result<document_row> pg_store::create_document(const document_row& row) {
  if (auto st = check_texts(row); !st)
    return st.error();
  auto r = db_->run(sql::create_document,
                    pg_params{}.text(row.id).text(row.title).text(row.content).text(row.policy).number(now_ms())
                      .null_if_zero(row.owner_id).boolean(row.is_public),
                    "create document");
  if (!r)
    return r.error();
  auto found = find_document(row.id);
  if (!found)
    return found.error();
  if (*found)
    return std::move(**found);
  auto deleted = db_->run(sql::is_deleted, pg_params{}.text(row.id), "create document");
  if (deleted && deleted->size() == 1)
    return make_error(errc::unknown_document, "document " + row.id + " was deleted");
  return make_error(errc::internal, "document " + row.id + " vanished after insert");
}

result<std::vector<op_row>> pg_store::ops_since(std::string_view doc_id, std::uint64_t after_rev) {
  return db_->collect<op_row>(sql::ops_since, pg_params{}.text(doc_id).number(after_rev), "read op log",
                              [&](const pg_rows& r, int i) -> op_row {
                                return {std::string{doc_id}, r.u64(i, 0), r.bytes(i, 1), r.text(i, 2),
                                        r.u64(i, 3),         r.u64(i, 4), r.i64(i, 5)};
                              });
}

result<std::vector<client_seq_row>> pg_store::client_seqs(std::string_view doc_id) {
  return db_->collect<client_seq_row>(sql::client_seqs, pg_params{}.text(doc_id), "read client sequence numbers",
                                      [](const pg_rows& r, int i) -> client_seq_row {
                                        return {r.text(i, 0), r.u64(i, 1), r.u64(i, 2)};
                                      });
}

result<std::vector<session_row>> pg_store::open_sessions(std::string_view doc_id) {
  return db_->collect<session_row>(sql::open_sessions, pg_params{}.text(doc_id), "read sessions",
                                   [](const pg_rows& r, int i) -> session_row {
                                     return {r.text(i, 0), r.text(i, 1), r.text(i, 2), r.i64(i, 3), 0};
                                   });
}

status pg_store::close_node_sessions(std::string_view node_id, std::int64_t at) {
  auto r = db_->run(sql::close_node_sessions, pg_params{}.number(at).text(node_id), "close sessions");
  return r ? ok() : status{r.error()};
}

result<user_row> pg_store::create_user(const user_row& user) {
  if (auto st = check_texts(user); !st)
    return st.error();
  auto now = now_ms();
  auto r = db_->run(sql::create_user,
                    pg_params{}.text(user.username).null_if_empty(user.email).text(user.password_hash).number(now),
                    "create user");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return make_error(errc::invalid_argument, "username is taken");
  auto created = user;
  created.id = r->i64(0, 0);
  created.created_at = now;
  return created;
}

result<std::optional<user_row>> pg_store::find_user(std::string_view username) {
  if (holds_nul(username))
    return std::optional<user_row>{};
  auto r = db_->run(sql::find_user, pg_params{}.text(username), "find user");
  if (!r)
    return r.error();
  return r->size() == 0 ? std::optional<user_row>{} : std::optional<user_row>{read_user(*r, 0)};
}

result<std::optional<user_row>> pg_store::find_user_by_id(std::int64_t id) {
  auto r = db_->run(sql::find_user_by_id, pg_params{}.number(id), "find user");
  if (!r)
    return r.error();
  return r->size() == 0 ? std::optional<user_row>{} : std::optional<user_row>{read_user(*r, 0)};
}

result<std::optional<user_row>> pg_store::find_external_user(std::string_view issuer, std::string_view subject) {
  if (holds_nul(issuer) || holds_nul(subject))
    return std::optional<user_row>{};
  auto r = db_->run(sql::find_external_user, pg_params{}.text(issuer).text(subject), "find user");
  if (!r)
    return r.error();
  return r->size() == 0 ? std::optional<user_row>{} : std::optional<user_row>{read_user(*r, 0)};
}

status pg_store::link_external_user(std::string_view issuer, std::string_view subject, std::int64_t user_id) {
  if (holds_nul(issuer) || holds_nul(subject))
    return make_error(errc::nul_character, "an issuer or subject holds U+0000");
  auto r = db_->run(sql::link_external_user, pg_params{}.text(issuer).text(subject).number(user_id), "link user");
  return r ? ok() : status{r.error()};
}

result<std::int64_t> pg_store::revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) {
  if (new_password_hash)
    if (auto st = check_texts(user_row{0, "", "", *new_password_hash}); !st)
      return st.error();
  auto r = db_->run(sql::revoke_tokens, pg_params{}.number(user_id).null_if_empty(new_password_hash.value_or("")),
                    "revoke tokens");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return make_error(errc::unauthorized, "no such user");
  return r->i64(0, 0);
}

result<std::vector<std::string>> pg_store::delete_user(std::int64_t user_id) {
  if (auto begun = db_->exec("BEGIN", "delete account"); !begun)
    return begun.error();
  auto fail = [this](error e) -> result<std::vector<std::string>> {
    db_->rollback();
    return e;
  };
  auto ids = db_->collect<std::string>(sql::owned_documents, pg_params{}.number(user_id), "delete account",
                                       [](const pg_rows& r, int i) { return r.text(i, 0); });
  if (!ids)
    return fail(ids.error());
  auto p = pg_params{}.number(user_id).number(now_ms());
  std::int64_t removed = 0;
  for (auto& step : sql::delete_user_steps) {
    auto r = db_->run(step, p, "delete account");
    if (!r)
      return fail(r.error());
    removed = r->changed(); // the last step deletes the user
  }
  if (removed == 0)
    return fail(make_error(errc::unauthorized, "no such user"));
  if (auto c = db_->exec("COMMIT", "delete account"); !c)
    return c.error();
  return std::move(*ids);
}

result<std::vector<listed_document>> pg_store::list_documents(std::int64_t user_id) {
  return db_->collect<listed_document>(sql::list_documents, pg_params{}.number(user_id), "list documents",
                                       [](const pg_rows& r, int i) -> listed_document {
                                         return {read_document(r, i), r.text(i, 12)};
                                       });
}

status pg_store::delete_document(std::string_view id) {
  auto r = db_->run(sql::delete_document, pg_params{}.text(id).number(now_ms()), "delete document");
  return r ? ok() : status{r.error()};
}

result<std::uint64_t> pg_store::set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) {
  if (auto begun = db_->exec("BEGIN", "set role"); !begun)
    return begun.error();
  auto fail = [this](error e) -> result<std::uint64_t> {
    db_->rollback();
    return e;
  };
  auto bumped = db_->run(sql::bump_acl_version, pg_params{}.text(doc_id), "set role");
  if (!bumped)
    return fail(bumped.error());
  if (bumped->size() == 0)
    return fail(make_error(errc::unknown_document, "no document with id " + std::string{doc_id}));
  auto changed = role.empty() ? db_->run(sql::remove_role, pg_params{}.text(doc_id).number(user_id), "set role")
                              : db_->run(sql::set_role, pg_params{}.text(doc_id).number(user_id).text(role), "set role");
  if (!changed)
    return fail(changed.error());
  if (auto c = db_->exec("COMMIT", "set role"); !c)
    return c.error();
  return bumped->u64(0, 0);
}

result<acl_snapshot> pg_store::access_list(std::string_view doc_id) {
  auto r = db_->run(sql::access_list, pg_params{}.text(doc_id), "read access list");
  if (!r)
    return r.error();
  acl_snapshot out;
  for (int i = 0; i < r->size(); ++i) {
    out.version = r->u64(i, 0);
    if (auto user = r->i64(i, 1); user != 0) // else: nobody was given a role
      out.entries.push_back({user, r->text(i, 2), r->text(i, 3)});
  }
  return out;
}

result<std::vector<history_row>> pg_store::history(std::string_view doc_id) {
  return db_->collect<history_row>(sql::history, pg_params{}.text(doc_id), "read history",
                                   [](const pg_rows& r, int i) -> history_row {
                                     return {r.u64(i, 0), r.text(i, 1), r.i64(i, 2), r.text(i, 3), r.u64(i, 4)};
                                   });
}

result<std::uint64_t> pg_store::acquire_lease(std::string_view doc_id, std::string_view node_id) {
  auto r = db_->run(sql::acquire_lease, pg_params{}.text(node_id).text(doc_id), "acquire lease");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return make_error(errc::unknown_document, "no document with id " + std::string{doc_id});
  return r->u64(0, 0);
}

} // namespace stet::storage
