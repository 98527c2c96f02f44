#include "storage/statements.hpp"

namespace stet::storage::sql {

// -- documents --

const statement find_document{
  "find_document",
  "SELECT d.id, d.title, COALESCE(c.content, ''), d.snapshot_rev, d.rev, d.last_ts, d.policy, d.owner_epoch, "
  "d.created_at, d.updated_at, COALESCE(d.owner_id, 0), d.is_public, COALESCE(c.comments, '') "
  "FROM documents d LEFT JOIN document_content c ON c.doc_id = d.id WHERE d.id = ?1",
  "SELECT d.id, d.title, d.content, d.snapshot_rev, d.rev, d.last_ts, d.policy, d.owner_epoch, d.created_at, "
  "d.updated_at, COALESCE(d.owner_id, 0), d.is_public, d.comments FROM documents d WHERE d.id = $1"};

// The text is not read: a listing shows none, and documents may be large.
const statement list_documents{
  "list_documents",
  "SELECT d.id, d.title, '', d.snapshot_rev, d.rev, d.last_ts, d.policy, d.owner_epoch, d.created_at, "
  "d.updated_at, COALESCE(d.owner_id, 0), d.is_public, "
  "CASE WHEN d.owner_id = ?1 THEN 'owner' ELSE COALESCE(a.role, 'viewer') END "
  "FROM documents d LEFT JOIN document_acl a ON a.doc_id = d.id AND a.user_id = ?1 "
  "WHERE d.owner_id = ?1 OR a.user_id IS NOT NULL ORDER BY d.updated_at DESC, d.id",
  "SELECT d.id, d.title, '', d.snapshot_rev, d.rev, d.last_ts, d.policy, d.owner_epoch, d.created_at, "
  "d.updated_at, COALESCE(d.owner_id, 0), d.is_public, "
  "CASE WHEN d.owner_id = $1 THEN 'owner' ELSE COALESCE(a.role, 'viewer') END "
  "FROM documents d LEFT JOIN document_acl a ON a.doc_id = d.id AND a.user_id = $1 "
  "WHERE d.owner_id = $1 OR a.user_id IS NOT NULL ORDER BY d.updated_at DESC, d.id"};

const statement is_deleted{"is_deleted", "SELECT 1 FROM deleted_documents WHERE id = ?1",
                           "SELECT 1 FROM deleted_documents WHERE id = $1"};

const statement create_document{
  "create_document",
  "INSERT INTO documents(id, title, snapshot_rev, rev, policy, created_at, updated_at, owner_id, is_public) "
  "SELECT ?1, ?2, 0, 0, ?4, ?5, ?5, ?6, ?7 WHERE NOT EXISTS (SELECT 1 FROM deleted_documents WHERE id = ?1) "
  "ON CONFLICT(id) DO NOTHING",
  "INSERT INTO documents(id, title, content, policy, created_at, updated_at, owner_id, is_public) "
  "SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $5::bigint, $6::bigint, $7::boolean "
  "WHERE NOT EXISTS (SELECT 1 FROM deleted_documents WHERE id = $1::text) ON CONFLICT (id) DO NOTHING"};

const statement create_content{"create_content", "INSERT INTO document_content(doc_id, content) VALUES(?1, ?2)",
                               nullptr};

const statement delete_document{
  "delete_document", "DELETE FROM documents WHERE id = ?1",
  "WITH gone AS (DELETE FROM documents WHERE id = $1 RETURNING id) "
  "INSERT INTO deleted_documents(id, deleted_at) SELECT id, $2::bigint FROM gone ON CONFLICT (id) DO NOTHING"};

const statement add_tombstone{"add_tombstone",
                              "INSERT OR IGNORE INTO deleted_documents(id, deleted_at) VALUES(?1, ?2)", nullptr};

const statement acquire_lease{
  "acquire_lease", "UPDATE documents SET owner_epoch = owner_epoch + 1, owner_node = ?1 WHERE id = ?2 RETURNING owner_epoch",
  "UPDATE documents SET owner_epoch = owner_epoch + 1, owner_node = $1 WHERE id = $2 RETURNING owner_epoch"};

// -- op log and commits --

const statement ops_since{
  "ops_since",
  "SELECT rev, ops, client_id, client_seq, ts, COALESCE(author_id, 0) FROM document_ops "
  "WHERE doc_id = ?1 AND rev > ?2 ORDER BY rev",
  "SELECT rev, ops, client_id, client_seq, ts, COALESCE(author_id, 0) FROM document_ops "
  "WHERE doc_id = $1 AND rev > $2 ORDER BY rev"};

const statement client_seqs{
  "client_seqs",
  "SELECT client_id, MAX(client_seq), MAX(rev) FROM ("
  "SELECT client_id, client_seq, rev FROM document_clients WHERE doc_id = ?1 UNION ALL "
  "SELECT COALESCE(author_id, 0) || ':' || client_id, client_seq, rev FROM document_ops "
  "WHERE doc_id = ?1 AND client_id <> '') GROUP BY client_id",
  "SELECT client_id, MAX(client_seq), MAX(rev) FROM ("
  "SELECT client_id, client_seq, rev FROM document_clients WHERE doc_id = $1 UNION ALL "
  "SELECT COALESCE(author_id, 0)::text || ':' || client_id, client_seq, rev FROM document_ops "
  "WHERE doc_id = $1 AND client_id <> '') c GROUP BY client_id"};

// PostgreSQL: the whole batch in one statement (per-statement work was most
// of its CPU per edit); a row comes back per op inserted, or already there
// as this very edit.
const statement insert_ops{
  "insert_ops",
  "INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq, author_id, epoch) "
  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(doc_id, rev) DO NOTHING",
  "INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq, author_id, epoch) "
  "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[], $5::text[], $6::bigint[], "
  "$7::bigint[], $8::bigint[]) "
  "ON CONFLICT (doc_id, rev) DO UPDATE SET rev = document_ops.rev "
  "WHERE document_ops.client_id = EXCLUDED.client_id AND document_ops.client_seq = EXCLUDED.client_seq "
  "RETURNING doc_id, rev"};

const statement same_op{"same_op", "SELECT client_id, client_seq FROM document_ops WHERE doc_id = ?1 AND rev = ?2",
                        nullptr};

// rev only grows (a retried batch must not move it back); the epoch fences
// a node whose lease was taken over; the first rev must follow the stored
// one, so no write leaves a gap in the op log.
const statement advance_documents{
  "advance_documents",
  "UPDATE documents SET rev = MAX(rev, ?1), last_ts = MAX(last_ts, ?2), updated_at = ?3 "
  "WHERE id = ?4 AND owner_epoch = ?5 AND rev >= ?6 - 1",
  "UPDATE documents d SET rev = GREATEST(d.rev, v.rev), last_ts = GREATEST(d.last_ts, v.ts), updated_at = $6 "
  "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, rev, ts, epoch, first) "
  "WHERE d.id = v.id AND d.owner_epoch = v.epoch AND d.rev >= v.first - 1 RETURNING d.id"};

const statement session_join{
  "session_join",
  "INSERT INTO sessions(id, doc_id, user_id, node_id, connected_at) VALUES(?1, ?2, ?3, ?4, ?5) "
  "ON CONFLICT(id, doc_id) DO UPDATE SET connected_at = excluded.connected_at, disconnected_at = NULL, "
  "node_id = excluded.node_id",
  "INSERT INTO sessions(id, doc_id, user_id, node_id, connected_at) VALUES($1, $2, $3, $4, $5) "
  "ON CONFLICT (id, doc_id) DO UPDATE SET connected_at = EXCLUDED.connected_at, disconnected_at = NULL, "
  "node_id = EXCLUDED.node_id"};

const statement session_leave{"session_leave",
                              "UPDATE sessions SET disconnected_at = ?1 WHERE id = ?2 AND doc_id = ?3",
                              "UPDATE sessions SET disconnected_at = $1 WHERE id = $2 AND doc_id = $3"};

// A snapshot older than the stored one is ignored.
const statement save_snapshot{
  "save_snapshot", "UPDATE documents SET snapshot_rev = ?2 WHERE id = ?1 AND snapshot_rev <= ?2",
  "UPDATE documents SET content = $3, comments = $4, snapshot_rev = $2 WHERE id = $1 AND snapshot_rev <= $2"};

const statement save_content{"save_content",
                             "INSERT INTO document_content(doc_id, content, comments) VALUES(?1, ?2, ?3) "
                             "ON CONFLICT(doc_id) DO UPDATE SET content = excluded.content, "
                             "comments = excluded.comments",
                             nullptr};

const statement keep_pruned_clients{
  "keep_pruned_clients",
  "INSERT INTO document_clients(doc_id, client_id, client_seq, rev) "
  "SELECT doc_id, COALESCE(author_id, 0) || ':' || client_id, MAX(client_seq), MAX(rev) "
  "FROM document_ops WHERE doc_id = ?1 AND rev <= ?2 AND client_id <> '' "
  "GROUP BY doc_id, COALESCE(author_id, 0), client_id "
  "ON CONFLICT(doc_id, client_id) DO UPDATE SET client_seq = excluded.client_seq, rev = excluded.rev "
  "WHERE excluded.client_seq > document_clients.client_seq",
  "INSERT INTO document_clients(doc_id, client_id, client_seq, rev) "
  "SELECT doc_id, COALESCE(author_id, 0)::text || ':' || client_id, MAX(client_seq), MAX(rev) "
  "FROM document_ops WHERE doc_id = $1 AND rev <= $2 AND client_id <> '' "
  "GROUP BY doc_id, COALESCE(author_id, 0), client_id "
  "ON CONFLICT (doc_id, client_id) DO UPDATE SET client_seq = EXCLUDED.client_seq, rev = EXCLUDED.rev "
  "WHERE EXCLUDED.client_seq > document_clients.client_seq"};

const statement prune_ops{"prune_ops", "DELETE FROM document_ops WHERE doc_id = ?1 AND rev <= ?2",
                          "DELETE FROM document_ops WHERE doc_id = $1 AND rev <= $2"};

const statement open_sessions{
  "open_sessions",
  "SELECT id, doc_id, node_id, connected_at FROM sessions WHERE doc_id = ?1 AND disconnected_at IS NULL "
  "ORDER BY connected_at, id",
  "SELECT id, doc_id, node_id, connected_at FROM sessions WHERE doc_id = $1 AND disconnected_at IS NULL "
  "ORDER BY connected_at, id"};

const statement close_node_sessions{
  "close_node_sessions", "UPDATE sessions SET disconnected_at = ?1 WHERE node_id = ?2 AND disconnected_at IS NULL",
  "UPDATE sessions SET disconnected_at = $1 WHERE node_id = $2 AND disconnected_at IS NULL"};

// -- accounts and access --

const statement create_user{
  "create_user",
  "INSERT INTO users(username, email, password_hash, created_at) VALUES(?1, ?2, ?3, ?4) "
  "ON CONFLICT(username) DO NOTHING RETURNING id",
  "INSERT INTO users(username, email, password_hash, created_at) VALUES($1, $2, $3, $4) "
  "ON CONFLICT (username) DO NOTHING RETURNING id"};

const statement find_external_user{
  "find_external_user",
  "SELECT u.id, u.username, COALESCE(u.email, ''), u.password_hash, u.created_at, u.token_epoch "
  "FROM external_users e JOIN users u ON u.id = e.user_id WHERE e.issuer = ?1 AND e.subject = ?2",
  "SELECT u.id, u.username, COALESCE(u.email, ''), u.password_hash, u.created_at, u.token_epoch "
  "FROM external_users e JOIN users u ON u.id = e.user_id WHERE e.issuer = $1 AND e.subject = $2"};

const statement link_external_user{
  "link_external_user",
  "INSERT INTO external_users(issuer, subject, user_id) VALUES(?1, ?2, ?3) ON CONFLICT DO NOTHING",
  "INSERT INTO external_users(issuer, subject, user_id) VALUES($1, $2, $3) ON CONFLICT DO NOTHING"};

const statement webhooks_enable{"webhooks_enable", "UPDATE webhook_config SET enabled = ?1 WHERE id = 1",
                                "UPDATE webhook_config SET enabled = $1 WHERE id = 1"};

const statement webhooks_due{
  "webhooks_due",
  "SELECT o.id, o.delivery, o.event, o.doc_id, o.rev, COALESCE(u.username, ''), COALESCE(o.user_id, 0), o.node_id, "
  "o.session_id, o.last_at, o.attempts FROM webhook_outbox o LEFT JOIN users u ON u.id = o.user_id "
  "WHERE o.next_attempt_at <= CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) AND (o.event <> 'document.changed' "
  "OR o.last_at <= CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) - ?1 OR o.first_at <= CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) - ?2) "
  "ORDER BY o.id LIMIT ?3",
  "SELECT o.id, o.delivery, o.event, o.doc_id, o.rev, COALESCE(u.username, ''), COALESCE(o.user_id, 0), o.node_id, "
  "o.session_id, o.last_at, o.attempts FROM webhook_outbox o LEFT JOIN users u ON u.id = o.user_id "
  "WHERE o.next_attempt_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint AND (o.event <> 'document.changed' "
  "OR o.last_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1 OR o.first_at <= (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $2) "
  "ORDER BY o.id LIMIT $3"};

const statement webhook_delivered{"webhook_delivered", "DELETE FROM webhook_outbox WHERE id = ?1 AND rev <= ?2",
                                  "DELETE FROM webhook_outbox WHERE id = $1 AND rev <= $2"};

const statement webhook_rearm{
  "webhook_rearm", "UPDATE webhook_outbox SET first_at = last_at, attempts = 0, next_attempt_at = 0 WHERE id = ?1",
  "UPDATE webhook_outbox SET first_at = last_at, attempts = 0, next_attempt_at = 0 WHERE id = $1"};

const statement webhook_failed{
  "webhook_failed",
  "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) + ?2 WHERE id = ?1",
  "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + $2 WHERE id = $1"};

const statement webhooks_expire{"webhooks_expire",
                                "DELETE FROM webhook_outbox WHERE first_at < CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) - ?1 RETURNING id",
                                "DELETE FROM webhook_outbox WHERE first_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1 RETURNING id"};

const statement webhooks_depth{"webhooks_depth", "SELECT COUNT(*) FROM webhook_outbox",
                               "SELECT COUNT(*) FROM webhook_outbox"};

const statement find_user{
  "find_user",
  "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE username = ?1",
  "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE username = $1"};

const statement find_user_by_id{
  "find_user_by_id",
  "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE id = ?1",
  "SELECT id, username, COALESCE(email, ''), password_hash, created_at, token_epoch FROM users WHERE id = $1"};

const statement revoke_tokens{
  "revoke_tokens",
  "UPDATE users SET token_epoch = token_epoch + 1, password_hash = COALESCE(?2, password_hash) WHERE id = ?1 "
  "RETURNING token_epoch",
  "UPDATE users SET token_epoch = token_epoch + 1, password_hash = COALESCE($2, password_hash) WHERE id = $1 "
  "RETURNING token_epoch"};

const statement owned_documents{"owned_documents", "SELECT id FROM documents WHERE owner_id = ?1",
                                "SELECT id FROM documents WHERE owner_id = $1 FOR UPDATE"};

// The documents the user owns leave tombstones and go; its edits to other
// documents stay, as anonymous ones; its grants go, bumping those access
// lists' versions; then the user. ($2: now; PostgreSQL needs every
// parameter used, hence "$2 IS NOT NULL".)
const std::vector<statement> delete_user_steps{
  {"delete_user_1", "INSERT OR IGNORE INTO deleted_documents(id, deleted_at) SELECT id, ?2 FROM documents WHERE owner_id = ?1",
   "INSERT INTO deleted_documents(id, deleted_at) SELECT id, $2::bigint FROM documents WHERE owner_id = $1 "
   "ON CONFLICT (id) DO NOTHING"},
  {"delete_user_2", "DELETE FROM documents WHERE owner_id = ?1 AND ?2 IS NOT NULL",
   "DELETE FROM documents WHERE owner_id = $1 AND $2::bigint IS NOT NULL"},
  {"delete_user_3", "UPDATE document_ops SET author_id = NULL WHERE author_id = ?1 AND ?2 IS NOT NULL",
   "UPDATE document_ops SET author_id = NULL WHERE author_id = $1 AND $2::bigint IS NOT NULL"},
  {"delete_user_4",
   "UPDATE documents SET acl_version = acl_version + 1 WHERE ?2 IS NOT NULL AND "
   "id IN (SELECT doc_id FROM document_acl WHERE user_id = ?1)",
   "UPDATE documents SET acl_version = acl_version + 1 WHERE $2::bigint IS NOT NULL AND "
   "id IN (SELECT doc_id FROM document_acl WHERE user_id = $1)"},
  {"delete_user_5", "DELETE FROM document_acl WHERE user_id = ?1 AND ?2 IS NOT NULL",
   "DELETE FROM document_acl WHERE user_id = $1 AND $2::bigint IS NOT NULL"},
  {"delete_user_6", "DELETE FROM users WHERE id = ?1 AND ?2 IS NOT NULL",
   "DELETE FROM users WHERE id = $1 AND $2::bigint IS NOT NULL"},
};

// set_role runs bump, then remove or set, in one transaction. The bump
// locks the document's row, so changes to one list are numbered in the
// order they commit; the change is a statement of its own, whose snapshot
// (taken after the lock was granted) sees the change committed before it.
const statement bump_acl_version{
  "bump_acl_version", "UPDATE documents SET acl_version = acl_version + 1 WHERE id = ?1 RETURNING acl_version",
  "UPDATE documents SET acl_version = acl_version + 1 WHERE id = $1 RETURNING acl_version"};

const statement remove_role{"remove_role", "DELETE FROM document_acl WHERE doc_id = ?1 AND user_id = ?2",
                            "DELETE FROM document_acl WHERE doc_id = $1 AND user_id = $2"};

const statement set_role{"set_role",
                         "INSERT INTO document_acl(doc_id, user_id, role) VALUES(?1, ?2, ?3) "
                         "ON CONFLICT(doc_id, user_id) DO UPDATE SET role = excluded.role",
                         "INSERT INTO document_acl(doc_id, user_id, role) VALUES($1, $2, $3) "
                         "ON CONFLICT (doc_id, user_id) DO UPDATE SET role = EXCLUDED.role"};

const statement access_list{
  "access_list",
  "SELECT d.acl_version, COALESCE(a.user_id, 0), COALESCE(u.username, ''), COALESCE(a.role, '') FROM documents d "
  "LEFT JOIN document_acl a ON a.doc_id = d.id LEFT JOIN users u ON u.id = a.user_id "
  "WHERE d.id = ?1 ORDER BY u.username",
  "SELECT d.acl_version, COALESCE(a.user_id, 0), COALESCE(u.username, ''), COALESCE(a.role, '') FROM documents d "
  "LEFT JOIN document_acl a ON a.doc_id = d.id LEFT JOIN users u ON u.id = a.user_id "
  "WHERE d.id = $1 ORDER BY u.username"};

const statement history{
  "history",
  "SELECT o.rev, o.client_id, COALESCE(o.author_id, 0), COALESCE(u.username, ''), o.ts "
  "FROM document_ops o LEFT JOIN users u ON u.id = o.author_id WHERE o.doc_id = ?1 ORDER BY o.rev",
  "SELECT o.rev, o.client_id, COALESCE(o.author_id, 0), COALESCE(u.username, ''), o.ts "
  "FROM document_ops o LEFT JOIN users u ON u.id = o.author_id WHERE o.doc_id = $1 ORDER BY o.rev"};

const statement create_version{
  "create_version",
  "INSERT INTO document_versions(doc_id, name, rev, content, author_id, created_at, bytes) "
  "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1) RETURNING id",
  "INSERT INTO document_versions(doc_id, name, rev, content, author_id, created_at, bytes) "
  "SELECT $1, $2, $3::bigint, $4, $5::bigint, $6::bigint, $7::bigint "
  "WHERE EXISTS (SELECT 1 FROM documents WHERE id = $1) RETURNING id"};

const statement count_versions{
  "count_versions", "SELECT count(*), COALESCE(sum(bytes), 0) FROM document_versions WHERE doc_id = ?1",
  "SELECT count(*), COALESCE(sum(bytes), 0)::bigint FROM document_versions WHERE doc_id = $1"};

const statement delete_version{"delete_version", "DELETE FROM document_versions WHERE doc_id = ?1 AND id = ?2",
                               "DELETE FROM document_versions WHERE doc_id = $1 AND id = $2"};

const statement list_versions{
  "list_versions",
  "SELECT v.id, v.name, v.rev, COALESCE(v.author_id, 0), COALESCE(u.username, ''), v.created_at "
  "FROM document_versions v LEFT JOIN users u ON u.id = v.author_id WHERE v.doc_id = ?1 ORDER BY v.id",
  "SELECT v.id, v.name, v.rev, COALESCE(v.author_id, 0), COALESCE(u.username, ''), v.created_at "
  "FROM document_versions v LEFT JOIN users u ON u.id = v.author_id WHERE v.doc_id = $1 ORDER BY v.id"};

const statement find_version{
  "find_version",
  "SELECT v.id, v.name, v.rev, COALESCE(v.author_id, 0), COALESCE(u.username, ''), v.created_at, v.content "
  "FROM document_versions v LEFT JOIN users u ON u.id = v.author_id WHERE v.doc_id = ?1 AND v.id = ?2",
  "SELECT v.id, v.name, v.rev, COALESCE(v.author_id, 0), COALESCE(u.username, ''), v.created_at, v.content "
  "FROM document_versions v LEFT JOIN users u ON u.id = v.author_id WHERE v.doc_id = $1 AND v.id = $2"};

const std::vector<const statement*>& postgres_prepared() {
  static const std::vector<const statement*> all = [] {
    std::vector<const statement*> out{&find_document,    &list_documents,   &is_deleted,         &create_document,
                                      &delete_document,  &acquire_lease,    &ops_since,          &client_seqs,
                                      &insert_ops,       &advance_documents, &session_join,      &session_leave,
                                      &save_snapshot,    &keep_pruned_clients, &prune_ops,       &open_sessions,
                                      &close_node_sessions, &create_user,   &find_user,          &find_user_by_id,
                                      &find_external_user, &link_external_user,
                                      &webhooks_enable, &webhooks_due, &webhook_delivered, &webhook_rearm,
                                      &webhook_failed, &webhooks_expire, &webhooks_depth,
                                      &revoke_tokens,    &owned_documents,  &bump_acl_version,   &remove_role,
                                      &set_role,         &access_list,      &history,
                                      &create_version,   &count_versions,   &list_versions,      &find_version,
                                      &delete_version};
    for (auto& s : delete_user_steps)
      out.push_back(&s);
    return out;
  }();
  return all;
}

} // namespace stet::storage::sql
