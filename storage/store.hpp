// The storage contract every backend (SQLite embedded, PostgreSQL) fulfils.
// A store is used from one thread at a time (its owning storage actor); calls
// block, so they must never run on a CAF scheduler thread or an Asio thread.
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stet::storage {

struct document_row {
  std::string id;
  std::string title;
  /// The text at `snapshot_rev`; later revisions live in the op log.
  std::string content;
  std::uint64_t snapshot_rev = 0;
  /// Newest committed revision.
  std::uint64_t rev = 0;
  /// Newest hybrid-clock stamp issued for the document.
  std::uint64_t last_ts = 0;
  std::string policy = "lww";
  std::uint64_t owner_epoch = 0;
  std::int64_t owner_id = 0; // 0: created anonymously, open to everyone
  bool is_public = false;    // anyone may view
  std::int64_t created_at = 0; // unix ms
  std::int64_t updated_at = 0;
  /// The comment threads at `snapshot_rev` (encoded, opaque to the store;
  /// empty: none). Read with the text, never listed.
  std::string comments{};
};

struct user_row {
  std::int64_t id = 0;
  std::string username;
  std::string email;
  std::string password_hash;
  std::int64_t created_at = 0;
  /// Tokens carry the epoch they were issued in; bumping it revokes them all.
  std::int64_t token_epoch = 0;
};

/// One entry of a document's access list: "viewer", "commenter" or "editor".
struct acl_row {
  std::int64_t user_id = 0;
  std::string username;
  std::string role;
};

/// A document's access list as of one version of it. Every change to the
/// list bumps the version in the transaction that makes it, so a node that
/// hears of changes out of order (each node publishes its own) keeps, per
/// user, the newest one.
struct acl_snapshot {
  std::uint64_t version = 0;
  std::vector<acl_row> entries;
};

/// A document in a user's list: its row (without its text) and the user's
/// role on it ("owner", "editor" or "viewer").
struct listed_document {
  document_row row;
  std::string role;
};

/// One revision in a document's history (as far as the op log reaches).
struct history_row {
  std::uint64_t rev = 0;
  std::string client_id;
  std::int64_t author_id = 0;
  std::string author; // username, empty for anonymous edits
  std::uint64_t ts = 0;
};

/// A named version: the document's text at one revision, kept whatever
/// compaction does to the op log.
struct version_row {
  std::int64_t id = 0;
  std::string doc_id;
  std::string name;
  std::uint64_t rev = 0;
  std::int64_t author_id = 0; // 0: anonymous, or the account was deleted
  std::string author;         // username, "" when author_id is 0
  std::int64_t created_at = 0; // unix ms
  /// The text at `rev`; empty in lists.
  std::string content{};
};

/// Versions one document may keep, and their bytes together: each holds a
/// whole copy of the text.
constexpr std::size_t k_max_versions_per_document = 500;
constexpr std::int64_t k_max_version_bytes_per_document = 256LL << 20;

/// The refusal for storing `v` beside `count` versions of `bytes` bytes,
/// or nullopt when it fits.
inline std::optional<error> version_limit(const version_row& v, std::int64_t count, std::int64_t bytes) {
  if (static_cast<std::size_t>(count) >= k_max_versions_per_document)
    return error{errc::invalid_argument, "document " + v.doc_id + " keeps "
                                           + std::to_string(k_max_versions_per_document)
                                           + " named versions already, the most it may: delete some first"};
  if (bytes + static_cast<std::int64_t>(v.content.size()) > k_max_version_bytes_per_document)
    return error{errc::invalid_argument, "the named versions of document " + v.doc_id + " would hold over "
                                           + std::to_string(k_max_version_bytes_per_document >> 20)
                                           + " MiB of text: delete some first"};
  return std::nullopt;
}

struct op_row {
  std::string doc_id;
  std::uint64_t rev = 0;
  /// Encoded operation (opaque to the store), erased text included.
  std::string ops;
  std::string client_id;
  std::uint64_t client_seq = 0;
  std::uint64_t ts = 0;
  std::int64_t author_id = 0; // 0 for anonymous sessions
  /// The committing node's lease epoch on the document (0 without leases).
  std::uint64_t epoch = 0;
};

/// The last edit each client had applied to a document: resends after a
/// reconnect are recognised by it, even after the op log was compacted.
struct client_seq_row {
  /// "<author_id>:<client_id>" (author 0 for anonymous sessions): a client
  /// id is only unique within its user, so that is the deduplication key.
  std::string client_id;
  std::uint64_t client_seq = 0;
  std::uint64_t rev = 0;
};

/// A session joining or leaving a document, for the `sessions` table.
struct session_event {
  std::string session_id;
  std::string doc_id;
  std::string node_id;
  std::string user_id; // empty while there are no accounts
  std::int64_t at = 0; // unix ms
  bool joined = true;
};

struct session_row {
  std::string session_id;
  std::string doc_id;
  std::string node_id;
  std::int64_t connected_at = 0;
  std::int64_t disconnected_at = 0; // 0 while connected
};

/// The document's text at `rev`; storing it deletes the ops with rev <=
/// `prune_through` (compaction keeps a tail of history for transforms).
struct snapshot_row {
  std::string doc_id;
  std::string content;
  std::uint64_t rev = 0;
  std::uint64_t prune_through = 0;
  /// The comment threads at `rev`, encoded (see document_row::comments).
  std::string comments{};
};

/// An event in the webhook outbox (see migration 12).
struct webhook_row {
  std::int64_t id = 0;
  /// Unique per event; a document's pending changes share "changed:<id>".
  std::string delivery;
  /// document.created | document.changed | document.deleted |
  /// session.joined | session.left
  std::string event;
  std::string doc_id;
  /// document.changed: the newest revision committed; deleted: the last.
  std::uint64_t rev = 0;
  std::string username; // sessions: "" for anonymous ones
  std::int64_t user_id = 0;
  std::string node_id;
  std::string session_id;
  std::int64_t at = 0; // unix ms of the (newest) change
  int attempts = 0;
};

/// What one durable transaction writes.
struct write_batch {
  /// Any documents; each document's revs consecutive and following its
  /// stored rev.
  std::vector<op_row> ops{};
  std::vector<session_event> sessions{};
  /// Written after `ops`. A snapshot older than the stored one is ignored.
  std::vector<snapshot_row> snapshots{};

  bool empty() const { return ops.empty() && sessions.empty() && snapshots.empty(); }
};

class store {
public:
  virtual ~store() = default;

  /// The document, or nullopt when it does not exist.
  virtual result<std::optional<document_row>> find_document(std::string_view id) = 0;

  /// Creates the document unless it exists; returns the stored row either
  /// way. Errors: unknown_document when a document with this id was deleted
  /// (deleted ids are never used again).
  virtual result<document_row> create_document(const document_row& row) = 0;

  /// Committed operations with rev > `after_rev`, in rev order.
  virtual result<std::vector<op_row>> ops_since(std::string_view doc_id, std::uint64_t after_rev) = 0;

  virtual result<std::vector<client_seq_row>> client_seqs(std::string_view doc_id) = 0;

  /// Writes `batch` in one durable transaction: appends its ops (advancing
  /// each document's rev and last_ts), records its sessions, stores its
  /// snapshots. All or nothing: on error nothing is stored. Idempotent: an
  /// op already stored with the same rev, client and sequence number (a retry
  /// after an ambiguous failure) counts as committed; a different one at that
  /// rev is an error. Errors: fenced (the lease moved on), unknown_document
  /// (a document of the batch was deleted: retrying cannot succeed).
  virtual status commit(const write_batch& batch) = 0;

  /// Sessions of `doc_id` still connected ("who is editing now").
  virtual result<std::vector<session_row>> open_sessions(std::string_view doc_id) = 0;

  /// Marks every session of `node_id` still open as disconnected at `at`
  /// (a node restarting after a crash closes what it left behind).
  virtual status close_node_sessions(std::string_view node_id, std::int64_t at) = 0;

  /// Takes the lease on a document for `node_id`: bumps and returns its
  /// owner_epoch, which fences every commit made under an older epoch.
  /// Errors: unknown_document.
  virtual result<std::uint64_t> acquire_lease(std::string_view doc_id, std::string_view node_id) = 0;

  // -- accounts and access --

  /// Errors: invalid_argument when the username is taken.
  virtual result<user_row> create_user(const user_row& user) = 0;
  virtual result<std::optional<user_row>> find_user(std::string_view username) = 0;
  virtual result<std::optional<user_row>> find_user_by_id(std::int64_t id) = 0;
  /// The user an identity provider's (issuer, subject) stands for.
  virtual result<std::optional<user_row>> find_external_user(std::string_view issuer, std::string_view subject) = 0;
  /// Links (issuer, subject) to `user_id` unless the pair is linked already.
  virtual status link_external_user(std::string_view issuer, std::string_view subject, std::int64_t user_id) = 0;
  /// Revokes every token issued to the user so far: bumps and returns its
  /// token epoch; with `new_password_hash`, sets the password in the same
  /// transaction. Errors: unauthorized when there is no such user.
  virtual result<std::int64_t> revoke_tokens(std::int64_t user_id,
                                             std::optional<std::string> new_password_hash = std::nullopt) = 0;
  /// Deletes the user with its grants (bumping those access lists'
  /// versions) and the documents it owns (leaving
  /// their tombstones); its edits to other documents stay, as anonymous
  /// ones. Returns the ids of the documents deleted. Errors: unauthorized
  /// when there is no such user.
  virtual result<std::vector<std::string>> delete_user(std::int64_t user_id) = 0;
  /// Documents `user_id` owns or was given a role on, newest first, with
  /// that role, in one read (their text is not read: `content` is empty).
  virtual result<std::vector<listed_document>> list_documents(std::int64_t user_id) = 0;
  /// Deletes the document with its op log, access list and client records,
  /// and keeps a tombstone so the id is not created again.
  virtual status delete_document(std::string_view id) = 0;
  /// Gives `user_id` the role "viewer", "commenter" or "editor"; an empty role removes
  /// it. Returns the access list's new version. Errors: unknown_document.
  virtual result<std::uint64_t> set_role(std::string_view doc_id, std::int64_t user_id, std::string_view role) = 0;
  /// One consistent read: the entries are those of the version returned.
  /// A document that does not exist has version 0 and no entries.
  virtual result<acl_snapshot> access_list(std::string_view doc_id) = 0;
  virtual result<std::vector<history_row>> history(std::string_view doc_id) = 0;

  // -- named versions --

  /// Stores `v` (its id is ignored) and returns it with its id. Errors:
  /// unknown_document when the document is gone; invalid_argument when it
  /// would keep more than k_max_versions_per_document versions or
  /// k_max_version_bytes_per_document bytes of them.
  virtual result<version_row> create_version(const version_row& v) = 0;
  /// The document's versions, oldest first, without their text.
  virtual result<std::vector<version_row>> list_versions(std::string_view doc_id) = 0;
  /// One version with its text, or nullopt.
  virtual result<std::optional<version_row>> find_version(std::string_view doc_id, std::int64_t id) = 0;
  /// Deletes one version; false when the document has no such version.
  virtual result<bool> delete_version(std::string_view doc_id, std::int64_t id) = 0;

  // -- webhook outbox: written by the database in the transactions that
  // cause the events (migration 12), read and cleared by the sender --

  /// Whether events are written from now on (every node of a cluster
  /// takes the same webhook flags).
  virtual status enable_webhooks(bool on) = 0;
  /// Events due now, oldest first (see sql::webhooks_due).
  virtual result<std::vector<webhook_row>> due_webhooks(std::int64_t debounce_ms, std::int64_t max_wait_ms,
                                                        std::size_t limit) = 0;
  /// Delivered to every receiver: removed, unless a change newer than
  /// `rev` came meanwhile (then it waits its own debounce).
  virtual status webhook_delivered(std::int64_t id, std::uint64_t rev) = 0;
  virtual status webhook_failed(std::int64_t id, std::int64_t retry_in_ms) = 0;
  /// Drops events older than `max_age_ms`; returns (dropped, still queued).
  virtual result<std::pair<std::int64_t, std::int64_t>> expire_webhooks(std::int64_t max_age_ms) = 0;

  /// Schema version after migrations.
  virtual int schema_version() = 0;
};

/// The user an identity provider's (issuer, subject) stands for, created on
/// first sight. Its name is "<issuer>/<subject>" (a "/" no account name
/// has, so it is never confused with one), and it has no password. Safe
/// when nodes race to create the same one: the first link wins.
result<user_row> external_user(store& s, std::string_view issuer, std::string_view subject);

} // namespace stet::storage
