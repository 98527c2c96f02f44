// The edits a session sent to its documents that nobody has answered yet
// (acked, or refused by an error naming them). When a document moves, the
// session's node joins it again where it is now and sends these once more;
// the new owner applies each once (it deduplicates by client id and
// sequence number). The gateway actor holds edits; whichever thread
// delivers an answer drops them, through the session's tracked_sink.
#pragma once

#include "actors/messages.hpp"
#include "actors/session_sink.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace stet {

class edit_ledger {
public:
  /// Edits held per document at most: past it, the session's edits are
  /// refused for now (the client resends them once answers came).
  static constexpr std::size_t k_max_held = 4096;

  /// Holds a copy of `e` (without its read credit) until it is answered;
  /// false when the document already holds k_max_held (refuse it for now).
  bool hold(const std::string& doc_id, const edit_request& e);
  /// Thread-safe: `client_seq` of `doc_id` was answered.
  void answered(const std::string& doc_id, std::uint64_t client_seq);
  /// The document's unanswered edits, in sequence order, as sent.
  std::vector<edit_request> unanswered(const std::string& doc_id) const;
  /// The session left the document (or the client takes over its resends).
  void forget(const std::string& doc_id);

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::map<std::uint64_t, edit_request>> held_;
};

/// A session's sink that tells its ledger which edits were answered and
/// otherwise passes everything to the sink of its socket.
class tracked_sink final : public session_sink {
public:
  tracked_sink(session_sink_ptr inner, std::shared_ptr<edit_ledger> ledger)
    : inner_(std::move(inner)), ledger_(std::move(ledger)) {
  }
  wire::frame_format format() const noexcept override {
    return inner_->format();
  }
  void send(std::shared_ptr<const std::string> frame) override {
    inner_->send(std::move(frame));
  }
  void send(std::vector<std::shared_ptr<const std::string>> frames) override {
    inner_->send(std::move(frames));
  }
  void allow_batching() override {
    inner_->allow_batching();
  }
  void answered(const std::string& doc_id, std::uint64_t client_seq) override {
    ledger_->answered(doc_id, client_seq);
  }
  using session_sink::send;

private:
  session_sink_ptr inner_;
  std::shared_ptr<edit_ledger> ledger_;
};

} // namespace stet
