// The embedded default backend: one SQLite file in WAL mode with
// synchronous=FULL, so a committed transaction survives a crash or power cut.
#pragma once

#include "storage/sqlite_statement.hpp"
#include "storage/store.hpp"

#include <functional>
#include <memory>
#include <string>

struct sqlite3;

namespace stet::storage {

class sqlite_statement;

class sqlite_store final : public store {
public:
  /// Opens (creating if needed) the database at `path` and runs migrations.
  /// Errors: storage_unavailable with SQLite's message.
  static result<std::unique_ptr<store>> open(const std::string& path);

  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  result<std::optional<document_row>> find_document(std::string_view id) override;
  result<document_row> create_document(const document_row& row) override;
  result<std::vector<op_row>> ops_since(std::string_view doc_id, std::uint64_t after_rev) override;
  result<std::vector<client_seq_row>> client_seqs(std::string_view doc_id) override;
  status commit(const write_batch& batch) override;
  result<std::vector<session_row>> open_sessions(std::string_view doc_id) override;
  status close_node_sessions(std::string_view node_id, std::int64_t at) override;
  result<std::uint64_t> acquire_lease(std::string_view doc_id, std::string_view node_id) override;
  result<user_row> create_user(const user_row& user) override;
  result<std::optional<user_row>> find_user(std::string_view username) override;
  result<std::optional<user_row>> find_user_by_id(std::int64_t id) override;
  result<std::optional<user_row>> find_external_user(std::string_view issuer, std::string_view subject) override;
  status link_external_user(std::string_view issuer, std::string_view subject, std::int64_t user_id) override;
  status enable_webhooks(bool on) override;
  result<std::vector<webhook_row>> due_webhooks(std::int64_t debounce_ms, std::int64_t max_wait_ms,
                                                std::size_t limit) override;
  status webhook_delivered(std::int64_t id, std::uint64_t rev) override;
  status webhook_failed(std::int64_t id, std::int64_t retry_in_ms) override;
  result<std::pair<std::int64_t, std::int64_t>> expire_webhooks(std::int64_t max_age_ms) override;

  result<std::int64_t> revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) override;
  result<std::vector<std::string>> delete_user(std::int64_t user_id) override;
  result<std::vector<listed_document>> list_documents(std::int64_t user_id) override;
  status delete_document(std::string_view id) override;
  result<std::uint64_t> set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) override;
  result<acl_snapshot> access_list(std::string_view doc_id) override;
  result<std::vector<history_row>> history(std::string_view doc_id) override;
  result<version_row> create_version(const version_row& v) override;
  result<std::vector<version_row>> list_versions(std::string_view doc_id) override;
  result<std::optional<version_row>> find_version(std::string_view doc_id, std::int64_t id) override;
  result<bool> delete_version(std::string_view doc_id, std::int64_t id) override;
  int schema_version() override;

private:
  explicit sqlite_store(sqlite3* db);
  status migrate();
  /// storage_unavailable naming `what`, with SQLite's message.
  error failed(std::string_view what);
  status exec(const char* sql);
  /// The statement for `sql`, prepared once.
  sqlite_statement& prepared(const char* sql);
  /// Steps `st` to the end (and resets it).
  status run(sqlite_statement& st, std::string_view what);
  /// Steps `st` to the end, one Row per result row; resets it either way.
  template <class Row, class Read>
  result<std::vector<Row>> collect(sqlite_statement& st, std::string_view what, Read read);
  /// The first row of `st`'s answer, if any.
  template <class Row, class Read>
  result<std::optional<Row>> first(sqlite_statement& st, std::string_view what, Read read);
  /// Runs `body` in an IMMEDIATE transaction: committed when it succeeds,
  /// rolled back when it fails.
  template <class T>
  result<T> in_transaction(const std::function<result<T>()>& body);

  sqlite3* db_;
  struct cache;
  std::unique_ptr<cache> cache_;
};

template <class Row, class Read>
result<std::vector<Row>> sqlite_store::collect(sqlite_statement& st, std::string_view what, Read read) {
  std::vector<Row> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back(read(st));
  st.reset();
  if (rc != SQLITE_DONE)
    return failed(what);
  return out;
}

template <class Row, class Read>
result<std::optional<Row>> sqlite_store::first(sqlite_statement& st, std::string_view what, Read read) {
  auto rows = collect<Row>(st, what, read);
  if (!rows)
    return rows.error();
  if (rows->empty())
    return std::optional<Row>{};
  return std::optional<Row>{std::move(rows->front())};
}

} // namespace stet::storage
