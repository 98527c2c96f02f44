// Every statement the backends run, named, in both dialects side by side
// (as migrations.cpp holds the schema): what a step means is written once,
// and how SQLite and PostgreSQL say it sits next to each other. SQLite
// binds ?N parameters, PostgreSQL $N; PostgreSQL writes a commit's rows as
// arrays (unnest), SQLite one row per run of a statement. An entry one
// dialect does not need has nullptr there.
#pragma once

#include <vector>

namespace stet::storage::sql {

struct statement {
  /// PostgreSQL's prepared statement name.
  const char* name;
  const char* sqlite;
  const char* postgres;
};

// -- documents --

/// The row of one document ($1 id): see read_document in each backend.
extern const statement find_document;
/// The documents a user ($1) owns or was given a role on, newest first,
/// each with the user's role ("owner", "editor", "viewer").
extern const statement list_documents;
extern const statement is_deleted;
/// Creates a document unless it exists or was deleted ($1 id, $2 title,
/// $3 content, $4 policy, $5 now, $6 owner or NULL, $7 public).
extern const statement create_document;
/// SQLite keeps the text in a table of its own: ($1 id, $2 content).
extern const statement create_content;
extern const statement delete_document;
/// SQLite writes the tombstone as a step of its own: ($1 id, $2 now).
extern const statement add_tombstone;
/// Bumps and returns the lease epoch ($1 node, $2 id).
extern const statement acquire_lease;

// -- op log and commits --

extern const statement ops_since;
/// Each client's newest (seq, rev): from the op log and from what
/// compaction kept of it.
extern const statement client_seqs;
/// Appends ops; an op already stored at its rev stays (see same_op).
extern const statement insert_ops;
/// SQLite: the client and sequence number stored at (doc, rev).
extern const statement same_op;
/// Moves a document's rev and last_ts forward, only under its lease
/// epoch and only when the batch follows its stored rev.
extern const statement advance_documents;
extern const statement session_join;
extern const statement session_leave;
extern const statement save_snapshot;
/// SQLite keeps the snapshot's text in document_content: ($1 id, $2 content).
extern const statement save_content;
/// Keeps each pruned client's newest (seq, rev) before the ops go.
extern const statement keep_pruned_clients;
extern const statement prune_ops;
extern const statement open_sessions;
extern const statement close_node_sessions;

// -- accounts and access --

extern const statement create_user;
extern const statement find_user;
extern const statement find_user_by_id;
extern const statement revoke_tokens;
/// The user a token's ($1 issuer, $2 subject) stands for.
extern const statement find_external_user;
/// ($1 issuer, $2 subject, $3 user); nothing when the pair is taken.
extern const statement link_external_user;
extern const statement owned_documents;
/// Deleting an account, in this order, in one transaction ($1 user, $2 now).
extern const std::vector<statement> delete_user_steps;
/// Bumps a document's access list version (locking its row), returns it.
extern const statement bump_acl_version;
extern const statement remove_role;
extern const statement set_role;
/// The access list and its version, in one statement (one snapshot).
extern const statement access_list;
extern const statement history;

// -- named versions --

/// Names the text of a revision ($1 doc, $2 name, $3 rev, $4 content,
/// $5 author or NULL, $6 now, $7 the content's bytes), returning the
/// version's id; nothing when the document is gone.
extern const statement create_version;
/// How many versions a document ($1) keeps, and their bytes.
extern const statement count_versions;
extern const statement delete_version;
/// A document's versions ($1), oldest first, without their text.
extern const statement list_versions;
/// One version ($1 doc, $2 id) with its text.
extern const statement find_version;

// -- webhook outbox (rows written by triggers, see migration 12) --

/// Whether the triggers write events ($1).
extern const statement webhooks_enable;
/// Events due now ($1 debounce ms, $2 longest wait ms, $3 limit): changes
/// quiet for the debounce, or waiting since their first for the longest
/// wait; every other event at once; each once its retry time came.
extern const statement webhooks_due;
/// Delivered ($1 id, $2 rev sent): gone unless a newer change came since...
extern const statement webhook_delivered;
/// ... which then waits its own debounce ($1 id).
extern const statement webhook_rearm;
/// Failed ($1 id, $2 ms until the next attempt).
extern const statement webhook_failed;
/// Drops events older than $1 ms, returning their ids.
extern const statement webhooks_expire;
extern const statement webhooks_depth;

/// Every statement PostgreSQL prepares on a new connection.
const std::vector<const statement*>& postgres_prepared();

} // namespace stet::storage::sql
