// One document's writes between being ordered and being heard committed.
//
// Edits (and session joins and leaves) are staged as the document orders
// them. A document keeps one write in flight: what it orders meanwhile
// goes, all of it, as the next write when the answer comes (measured: a
// write per mailbox burst, several in flight, cost up to a third of the
// deliveries a saturated hot document makes, because each answer is one
// more hand-over to every session). Storage is the one owner of group
// commit: it puts the writes it holds, of any documents, into one
// transaction, and retries while the database is away. The answer
// releases the write's notices (acks, broadcasts, conflicts), in edit
// order: nothing is told before its transaction committed.
//
// A plain class: no actors, no I/O, no clock of its own.
#pragma once

#include "core/document.hpp"
#include "proto/codec.hpp"
#include "storage/store.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stet {

/// An edit waiting for its write to commit before anyone hears of it.
struct pending_notice {
  std::string author_session;
  std::string author_node; // empty: a session on this node
  std::uint64_t client_seq = 0;
  std::uint64_t rev = 0;
  std::uint64_t ts = 0;
  std::shared_ptr<wire::encoded_message> applied; // null for a duplicate
  std::string author_client;
  std::vector<conflict_notice> conflicts;
  std::chrono::steady_clock::time_point received;
  /// A traced edit: the trace context its commit and fan-out spans belong
  /// under, and when it was staged (unix ns: the commit span's start).
  std::string traceparent{};
  std::int64_t staged_unix_ns = 0;
};

class commit_pipeline {
public:
  using time_point = std::chrono::steady_clock::time_point;

  /// `committed_rev`: the document's revision as loaded (all of it durable).
  explicit commit_pipeline(std::uint64_t committed_rev = 0) : committed_rev_(committed_rev) {
  }

  // -- staging --

  /// An ordered edit; `row` is empty for a duplicate, which is acked with
  /// the write it was staged in, so never before the original is durable.
  void stage(std::optional<storage::op_row> row, pending_notice notice);
  /// A session joining or leaving, recorded with the next write.
  void stage(storage::session_event event);

  // -- writing --

  /// Whether anything is staged.
  bool staged() const noexcept {
    return !staged_.writes.empty() || !staged_.notices.empty();
  }
  /// Whether a write is out and unanswered.
  bool in_flight() const noexcept {
    return in_flight_.has_value();
  }
  /// Hands what is staged over as one write, in flight from `now`.
  /// Precondition: staged() and not in_flight().
  storage::write_batch send(time_point now);
  /// The write in flight committed: its notices, in edit order, to be
  /// delivered. Precondition: in_flight().
  std::vector<pending_notice> committed();

  // -- observers --

  /// Every revision up to here is durable.
  std::uint64_t committed_rev() const noexcept {
    return committed_rev_;
  }
  /// Edits staged or in flight (bounds a document's memory while storage
  /// is slow or away).
  std::size_t edits_waiting() const noexcept {
    return edits_waiting_;
  }
  /// When the write in flight was sent.
  std::optional<time_point> oldest_sent() const;
  /// Nothing staged, nothing in flight.
  bool idle() const noexcept {
    return !staged() && !in_flight();
  }

private:
  struct write {
    storage::write_batch writes;
    std::vector<pending_notice> notices;
    std::uint64_t last_rev = 0;
    time_point sent{};
  };
  write staged_;
  std::optional<write> in_flight_;
  std::uint64_t committed_rev_;
  std::size_t edits_waiting_ = 0;
};

} // namespace stet
