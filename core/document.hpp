// One document's state machine: text, revision, history and the conflict
// policy. It orders edits (transform against everything since their base
// revision, apply, stamp) but does no I/O; the document actor around it
// handles commits, acks and fan-out.
#pragma once

#include "core/comments.hpp"
#include "core/error.hpp"
#include "core/hybrid_clock.hpp"
#include "core/text_buffer.hpp"
#include "core/transform.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stet {

/// How much a document keeps. The history (revisions kept in memory to
/// transform stale edits and resume clients by revision; older bases get
/// `rev_too_old`, older resumes a snapshot) holds at most `history`
/// revisions and `history_bytes` of memory, and drops revisions older than
/// `history_age_ms` beyond the newest `history_min`. Without the bytes and
/// the age, 10,000 revisions of 1 MiB pastes could pin 20 GB in one
/// document, and every busy document would keep 10,000 however slow its
/// clients are to need them.
struct document_limits {
  /// Largest document, in UTF-8 bytes.
  std::size_t max_bytes = 16 * 1024 * 1024;
  std::size_t history = 10000;
  std::size_t history_bytes = 8 * 1024 * 1024;
  std::uint64_t history_age_ms = 60'000;
  std::size_t history_min = 100;
  /// Clients whose last edit the document remembers (to recognise resends).
  /// Past it the ones whose last edit is oldest are forgotten: each costs
  /// ~100 bytes, and a flood of fresh client ids must not grow a document
  /// without bound. A resend from a client forgotten this way, rebased on a
  /// fresh snapshot, would apply again; that takes this many other clients
  /// editing while it was away.
  std::size_t max_clients = 100'000;
};

/// Who an edit came from, as the server knows it: a client id is the
/// client's name for one of its connections and only unique within its
/// user, so deduplication and conflict notices key by both
/// ("<user_id>:<client_id>"; user 0 for anonymous sessions).
std::string client_key(std::int64_t user_id, std::string_view client_id);

/// An edit as the document orders it: who sent it (as the server knows
/// them: the client id the session joined with and its user, 0 for an
/// anonymous session), its number in that client's stream, the revision it
/// was made against, and the change.
struct edit {
  std::string client_id;
  std::int64_t user_id = 0;
  std::uint64_t client_seq = 0;
  std::uint64_t base_rev = 0;
  operation op;
  /// A change to the comment threads instead of the text (`op` is then
  /// empty); its range is of the text at `base_rev`.
  std::optional<comment_action> comment{};
};

/// An edit as serialised: the operation as applied (removed text included).
struct history_entry {
  std::uint64_t rev = 0;
  operation op;
  std::string client_id;
  std::int64_t user_id = 0;
  std::uint64_t client_seq = 0;
  std::uint64_t ts = 0;
  std::size_t length_before = 0; // code points
  /// The comment change it made, as applied (its thread and range filled
  /// in); shared, so a text edit's entry pays one pointer for it.
  std::shared_ptr<const comment_action> comment{};
};

/// The earlier edit whose change a later one undid (policy lww).
struct conflict_notice {
  std::string client_id;
  std::int64_t user_id = 0;
  std::uint64_t client_seq = 0;
  std::string dropped;
  std::string restored;
};

struct edit_outcome {
  /// The edit was applied before (a resend): nothing changed.
  bool duplicate = false;
  /// The revision of the edit (for a duplicate: the one it got first; 0
  /// when that is no longer known).
  std::uint64_t rev = 0;
  std::vector<conflict_notice> conflicts;
};

/// The last edit a client had applied (see client_key), kept past the
/// op log's compaction so a resend is still recognised.
struct client_record {
  std::string key;
  std::uint64_t client_seq = 0;
  std::uint64_t rev = 0;
};

/// A document as stored, decoded: the text at `snapshot_rev`, the op log
/// around it (in rev order, possibly starting before the snapshot) and the
/// client records.
struct stored_document {
  std::string id;
  conflict_policy policy = conflict_policy::lww;
  std::string snapshot;
  std::uint64_t snapshot_rev = 0;
  std::uint64_t last_ts = 0;
  std::vector<history_entry> log;
  std::vector<client_record> clients;
  /// The comment threads at `snapshot_rev`.
  std::map<std::uint64_t, comment_thread> comments{};
};

class document {
public:
  document(std::string id, conflict_policy policy, document_limits limits, std::string text = {},
           std::uint64_t rev = 0, std::uint64_t last_ts = 0);

  /// Rebuilds a stored document: snapshot, then the op log after it.
  /// Errors: internal (the log has a gap, or does not replay).
  static result<document> restore(stored_document stored, document_limits limits);

  // -- observers --

  const std::string& id() const noexcept {
    return id_;
  }
  conflict_policy policy() const noexcept {
    return policy_;
  }
  std::uint64_t rev() const noexcept {
    return rev_;
  }
  std::uint64_t last_ts() const noexcept {
    return clock_.last();
  }
  const text_buffer& text() const noexcept {
    return text_;
  }
  /// The history entry of `rev`, or nullptr when it is not kept.
  const history_entry* entry(std::uint64_t rev) const noexcept;
  /// Oldest revision a client may still use as a base.
  std::uint64_t oldest_base() const noexcept;
  /// The text as of `rev`. Precondition: oldest_base() <= rev <= rev().
  std::string text_at(std::uint64_t rev) const;
  /// Revisions in the history and the memory they hold (an estimate:
  /// allocations as sized, plus the allocator's header for each).
  std::size_t history_size() const noexcept {
    return history_.size();
  }
  std::size_t history_bytes() const noexcept {
    return history_bytes_;
  }
  std::size_t clients_remembered() const noexcept {
    return clients_.size();
  }
  /// The comment threads at rev().
  const comment_threads& comments() const noexcept {
    return comments_;
  }
  /// The comment threads at the newest revision marked durable (what a
  /// snapshot of that revision stores with its text).
  const comment_threads& durable_comments() const noexcept {
    return durable_comments_;
  }
  std::uint64_t durable_rev() const noexcept {
    return durable_rev_;
  }

  // -- modifiers --

  /// Orders one edit: deduplicates by (user_id, client_id, client_seq), checks it fits
  /// the document at its base revision, transforms it against every later
  /// revision under the policy, applies it and assigns the next revision.
  /// A comment edit changes the threads instead (see comment_action). On
  /// error nothing changed. Errors: invalid_argument, bad_rev, unknown_document,
  /// rev_too_old, out_of_range, document_too_large.
  result<edit_outcome> submit(const edit& e, std::uint64_t now_ms);

  /// Revisions up to `rev` are committed: trims the history to its limits
  /// (ages measured against `now_ms`; 0: no age limit), never past `rev`,
  /// since the text as committed is rebuilt from the revisions after it.
  void mark_durable(std::uint64_t rev, std::uint64_t now_ms);

  /// Records that the client with `key` (see client_key) had `client_seq`
  /// applied as `rev` (restore).
  void remember_client(const std::string& key, std::uint64_t client_seq, std::uint64_t rev);

  /// An edit of this client was refused for now (the caller's limits; it
  /// was told to resend it): its later edits are refused with out_of_order
  /// until that one comes again. Deduplication remembers the highest
  /// clientSeq applied, so a later edit applied first would make the
  /// resend look like a duplicate: acked, never applied.
  void hold_back(std::int64_t user_id, std::string_view client_id, std::uint64_t client_seq);

private:
  void forget_oldest_clients();
  result<edit_outcome> submit_comment(const edit& req, const std::string& key, std::uint64_t now_ms);

  struct client_state {
    std::uint64_t seq = 0;
    std::uint64_t rev = 0;
    std::uint64_t held_from = 0; // the earliest clientSeq refused for now and not resent (0: none)
  };

  std::string id_;
  conflict_policy policy_;
  document_limits limits_;
  text_buffer text_;
  std::uint64_t rev_;
  hybrid_clock clock_;
  std::deque<history_entry> history_;
  std::size_t history_bytes_ = 0;
  std::uint64_t durable_rev_;
  std::unordered_map<std::string, client_state> clients_;
  comment_threads comments_;
  comment_threads durable_comments_;
};

} // namespace stet
