// The production backend: PostgreSQL through libpq. One connection per
// store (the storage actors form the pool); statements are prepared once per
// connection, parameters are sent out of band (bytea in binary), and a
// commit pipelines all of a batch's statements in one round trip.
#pragma once

#include "storage/store.hpp"

#include <memory>
#include <string>

namespace stet::storage {

class pg_connection;

class pg_store final : public store {
public:
  /// Connects to `conninfo` (a libpq URL or key=value string) and runs
  /// migrations under an advisory lock, so nodes starting together migrate
  /// once. Errors: storage_unavailable with the server's message.
  static result<std::unique_ptr<store>> open(const std::string& conninfo);
  /// A store that only reads, on a streaming replica (read-only: no
  /// migrations). It connects when first used, and again after a failure,
  /// so a replica that is down at start or later only fails its reads.
  static std::unique_ptr<store> open_replica(const std::string& conninfo);

  ~pg_store() override;
  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

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
  explicit pg_store(std::string conninfo);
  status migrate();

  std::unique_ptr<pg_connection> db_;
};

} // namespace stet::storage
