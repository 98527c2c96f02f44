// A store that passes every call to a real one, except that its commits
// fail as the test says: the database away for the next N commits
// (storage_unavailable), or every commit holding one revision refused for
// good. Like leveldb's fault-injecting Env: the real backend underneath,
// the failures on top.
#pragma once

#include "storage/store.hpp"

#include <atomic>
#include <chrono>
#include <thread>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace stet::test {

class faulty_store final : public storage::store {
public:
  explicit faulty_store(std::unique_ptr<storage::store> real) : real_(std::move(real)) {
  }

  /// The next `n` commits fail as if the database were away.
  void fail_next_commits(int n) {
    away_ = n;
  }
  /// Every commit holding revision `rev` of `doc_id` is refused for good.
  void refuse(const std::string& doc_id, std::uint64_t rev) {
    std::lock_guard<std::mutex> guard{mutex_};
    refused_.insert({doc_id, rev});
  }
  void refuse_nothing() {
    std::lock_guard<std::mutex> guard{mutex_};
    refused_.clear();
  }
  /// The next document lookup takes `d` (keeps the actor busy, so what is
  /// sent meanwhile queues up).
  void stall_next_lookup(std::chrono::milliseconds d) {
    stall_ = d;
  }
  /// Commits tried so far (failed ones too).
  int commits_tried() const {
    return tried_;
  }

  status commit(const storage::write_batch& batch) override {
    ++tried_;
    if (away_ > 0) {
      --away_;
      return make_error(errc::storage_unavailable, "the database is away (test)");
    }
    {
      std::lock_guard<std::mutex> guard{mutex_};
      for (auto& op : batch.ops)
        if (refused_.count({op.doc_id, op.rev}))
          return make_error(errc::internal, "refused (test): " + op.doc_id);
    }
    return real_->commit(batch);
  }

  result<std::optional<storage::document_row>> find_document(std::string_view id) override {
    if (auto d = stall_.exchange(std::chrono::milliseconds{0}); d.count() > 0)
      std::this_thread::sleep_for(d);
    return real_->find_document(id);
  }
  result<storage::document_row> create_document(const storage::document_row& row) override {
    return real_->create_document(row);
  }
  result<std::vector<storage::op_row>> ops_since(std::string_view doc_id, std::uint64_t after_rev) override {
    return real_->ops_since(doc_id, after_rev);
  }
  result<std::vector<storage::client_seq_row>> client_seqs(std::string_view doc_id) override {
    return real_->client_seqs(doc_id);
  }
  result<std::vector<storage::session_row>> open_sessions(std::string_view doc_id) override {
    return real_->open_sessions(doc_id);
  }
  status close_node_sessions(std::string_view node_id, std::int64_t at) override {
    return real_->close_node_sessions(node_id, at);
  }
  result<std::uint64_t> acquire_lease(std::string_view doc_id, std::string_view node_id) override {
    return real_->acquire_lease(doc_id, node_id);
  }
  result<storage::user_row> create_user(const storage::user_row& user) override {
    return real_->create_user(user);
  }
  result<std::optional<storage::user_row>> find_user(std::string_view username) override {
    return real_->find_user(username);
  }
  result<std::optional<storage::user_row>> find_user_by_id(std::int64_t id) override {
    return real_->find_user_by_id(id);
  }
  result<std::optional<storage::user_row>> find_external_user(std::string_view issuer,
                                                              std::string_view subject) override {
    return real_->find_external_user(issuer, subject);
  }
  status link_external_user(std::string_view issuer, std::string_view subject, std::int64_t user_id) override {
    return real_->link_external_user(issuer, subject, user_id);
  }
  status enable_webhooks(bool on) override {
    return real_->enable_webhooks(on);
  }
  result<std::vector<storage::webhook_row>> due_webhooks(std::int64_t debounce_ms, std::int64_t max_wait_ms,
                                                         std::size_t limit) override {
    return real_->due_webhooks(debounce_ms, max_wait_ms, limit);
  }
  status webhook_delivered(std::int64_t id, std::uint64_t rev) override {
    return real_->webhook_delivered(id, rev);
  }
  status webhook_failed(std::int64_t id, std::int64_t retry_in_ms) override {
    return real_->webhook_failed(id, retry_in_ms);
  }
  result<std::pair<std::int64_t, std::int64_t>> expire_webhooks(std::int64_t max_age_ms) override {
    return real_->expire_webhooks(max_age_ms);
  }
  result<std::int64_t> revoke_tokens(std::int64_t user_id, std::optional<std::string> new_password_hash) override {
    return real_->revoke_tokens(user_id, std::move(new_password_hash));
  }
  result<std::vector<std::string>> delete_user(std::int64_t user_id) override {
    return real_->delete_user(user_id);
  }
  result<std::vector<storage::listed_document>> list_documents(std::int64_t user_id) override {
    return real_->list_documents(user_id);
  }
  status delete_document(std::string_view id) override {
    return real_->delete_document(id);
  }
  result<std::uint64_t> set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) override {
    return real_->set_role(doc_id, user_id, role);
  }
  result<storage::acl_snapshot> access_list(std::string_view doc_id) override {
    return real_->access_list(doc_id);
  }
  result<std::vector<storage::history_row>> history(std::string_view doc_id) override {
    return real_->history(doc_id);
  }
  result<storage::version_row> create_version(const storage::version_row& v) override {
    return real_->create_version(v);
  }
  result<std::vector<storage::version_row>> list_versions(std::string_view doc_id) override {
    return real_->list_versions(doc_id);
  }
  result<std::optional<storage::version_row>> find_version(std::string_view doc_id, std::int64_t id) override {
    return real_->find_version(doc_id, id);
  }
  result<bool> delete_version(std::string_view doc_id, std::int64_t id) override {
    return real_->delete_version(doc_id, id);
  }
  int schema_version() override {
    return real_->schema_version();
  }

private:
  std::unique_ptr<storage::store> real_;
  std::atomic<int> away_{0};
  std::atomic<int> tried_{0};
  std::atomic<std::chrono::milliseconds> stall_{std::chrono::milliseconds{0}};
  std::mutex mutex_;
  std::set<std::pair<std::string, std::uint64_t>> refused_;
};

} // namespace stet::test
