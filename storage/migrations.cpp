#include "storage/migrations.hpp"

namespace stet::storage {

const std::vector<migration>& migrations() {
  static const std::vector<migration> all{
    {1, "initial schema",
     R"sql(
CREATE TABLE users(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT NOT NULL UNIQUE,
  email TEXT,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE documents(
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL DEFAULT '',
  snapshot_rev INTEGER NOT NULL DEFAULT 0,
  rev INTEGER NOT NULL DEFAULT 0,
  last_ts INTEGER NOT NULL DEFAULT 0,
  policy TEXT NOT NULL DEFAULT 'lww' CHECK(policy IN ('lww','merge')),
  owner_id INTEGER REFERENCES users(id),
  is_public INTEGER NOT NULL DEFAULT 0,
  owner_epoch INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL);
CREATE TABLE document_ops(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  rev INTEGER NOT NULL,
  ops BLOB NOT NULL,
  author_id INTEGER REFERENCES users(id),
  ts INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  PRIMARY KEY(doc_id, rev));
CREATE TABLE document_clients(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  rev INTEGER NOT NULL,
  PRIMARY KEY(doc_id, client_id));
CREATE TABLE document_acl(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK(role IN ('viewer','editor')),
  PRIMARY KEY(doc_id, user_id));
CREATE TABLE sessions(
  id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  user_id INTEGER,
  node_id TEXT NOT NULL,
  connected_at INTEGER NOT NULL,
  disconnected_at INTEGER,
  PRIMARY KEY(id, doc_id));
)sql",
     R"sql(
CREATE TABLE users(
  id BIGSERIAL PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  email TEXT,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE documents(
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL DEFAULT '',
  content TEXT NOT NULL DEFAULT '',
  snapshot_rev BIGINT NOT NULL DEFAULT 0,
  rev BIGINT NOT NULL DEFAULT 0,
  last_ts BIGINT NOT NULL DEFAULT 0,
  policy TEXT NOT NULL DEFAULT 'lww' CHECK(policy IN ('lww','merge')),
  owner_id BIGINT REFERENCES users(id),
  is_public BOOLEAN NOT NULL DEFAULT false,
  owner_epoch BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL);
CREATE TABLE document_ops(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  rev BIGINT NOT NULL,
  ops BYTEA NOT NULL,
  author_id BIGINT REFERENCES users(id),
  ts BIGINT NOT NULL,
  client_id TEXT NOT NULL,
  client_seq BIGINT NOT NULL,
  PRIMARY KEY(doc_id, rev));
CREATE TABLE document_clients(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_seq BIGINT NOT NULL,
  rev BIGINT NOT NULL,
  PRIMARY KEY(doc_id, client_id));
CREATE TABLE document_acl(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK(role IN ('viewer','editor')),
  PRIMARY KEY(doc_id, user_id));
CREATE TABLE sessions(
  id TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  user_id BIGINT,
  node_id TEXT NOT NULL,
  connected_at BIGINT NOT NULL,
  disconnected_at BIGINT,
  PRIMARY KEY(id, doc_id));
CREATE INDEX sessions_open ON sessions(doc_id) WHERE disconnected_at IS NULL;
)sql"},
    {2, "indexes for listing a user's documents",
     R"sql(
CREATE INDEX documents_owner ON documents(owner_id);
CREATE INDEX document_acl_user ON document_acl(user_id);
)sql",
     R"sql(
CREATE INDEX documents_owner ON documents(owner_id);
CREATE INDEX document_acl_user ON document_acl(user_id);
)sql"},
    {3, "lease holder of each document",
     "ALTER TABLE documents ADD COLUMN owner_node TEXT NOT NULL DEFAULT '';",
     "ALTER TABLE documents ADD COLUMN owner_node TEXT NOT NULL DEFAULT '';"},
    {4, "the lease epoch each op was committed under",
     "ALTER TABLE document_ops ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
     "ALTER TABLE document_ops ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;"},
    // SQLite appends rowid tables in insertion order, so the ops of
    // concurrently edited documents interleave on every page: compacting one
    // document's log rewrote a page per op. Clustered by (doc_id, rev), a
    // document's log is contiguous. PostgreSQL heaps work differently.
    {5, "op logs clustered by document (SQLite)",
     R"sql(
CREATE TABLE document_ops_clustered(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  rev INTEGER NOT NULL,
  ops BLOB NOT NULL,
  author_id INTEGER REFERENCES users(id),
  ts INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  epoch INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(doc_id, rev)) WITHOUT ROWID;
INSERT INTO document_ops_clustered(doc_id, rev, ops, author_id, ts, client_id, client_seq, epoch)
  SELECT doc_id, rev, ops, author_id, ts, client_id, client_seq, epoch FROM document_ops;
DROP TABLE document_ops;
ALTER TABLE document_ops_clustered RENAME TO document_ops;
CREATE TABLE document_clients_clustered(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  rev INTEGER NOT NULL,
  PRIMARY KEY(doc_id, client_id)) WITHOUT ROWID;
INSERT INTO document_clients_clustered(doc_id, client_id, client_seq, rev)
  SELECT doc_id, client_id, client_seq, rev FROM document_clients;
DROP TABLE document_clients;
ALTER TABLE document_clients_clustered RENAME TO document_clients;
)sql",
     "SELECT 1;"},
    // SQLite rewrites a whole row on every UPDATE, so bumping a document's
    // rev at each commit copied its snapshot text (27 us per commit at
    // 100 KB, 250 us at 1 MB). The text gets its own table; PostgreSQL
    // keeps large text out of line (TOAST) already.
    {6, "snapshot text apart from the per-commit columns (SQLite)",
     R"sql(
CREATE TABLE document_content(
  doc_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
  content TEXT NOT NULL);
INSERT INTO document_content(doc_id, content) SELECT id, content FROM documents;
ALTER TABLE documents DROP COLUMN content;
)sql",
     "SELECT 1;"},
    // A client id is only unique within its user: deduplication keys by
    // "<author_id>:<client_id>". Records kept from before are given the
    // author of the client's ops still in the log (anonymous: 0).
    // Rebuilt rather than updated in place: an old id "x" and an old id
    // "0:x" would collide half way through an UPDATE.
    {7, "client records keyed by user and client id",
     R"sql(
CREATE TABLE document_clients_keyed(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_seq INTEGER NOT NULL,
  rev INTEGER NOT NULL,
  PRIMARY KEY(doc_id, client_id)) WITHOUT ROWID;
INSERT INTO document_clients_keyed(doc_id, client_id, client_seq, rev)
  SELECT doc_id, k, MAX(client_seq), MAX(rev) FROM (
    SELECT c.doc_id, COALESCE((SELECT MAX(o.author_id) FROM document_ops o
      WHERE o.doc_id = c.doc_id AND o.client_id = c.client_id), 0) || ':' || c.client_id AS k, c.client_seq, c.rev
    FROM document_clients c) GROUP BY doc_id, k;
DROP TABLE document_clients;
ALTER TABLE document_clients_keyed RENAME TO document_clients;
)sql",
     R"sql(
CREATE TABLE document_clients_keyed(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL,
  client_seq BIGINT NOT NULL,
  rev BIGINT NOT NULL,
  PRIMARY KEY(doc_id, client_id));
INSERT INTO document_clients_keyed(doc_id, client_id, client_seq, rev)
  SELECT doc_id, k, MAX(client_seq), MAX(rev) FROM (
    SELECT c.doc_id, COALESCE((SELECT MAX(o.author_id) FROM document_ops o
      WHERE o.doc_id = c.doc_id AND o.client_id = c.client_id), 0)::text || ':' || c.client_id AS k, c.client_seq, c.rev
    FROM document_clients c) keyed GROUP BY doc_id, k;
DROP TABLE document_clients;
ALTER TABLE document_clients_keyed RENAME TO document_clients;
)sql"},
    // A deleted document stays deleted: a late join (or a node that has
    // not heard of the delete yet) must not create it again.
    {8, "tombstones of deleted documents",
     "CREATE TABLE deleted_documents(id TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL);",
     "CREATE TABLE deleted_documents(id TEXT PRIMARY KEY, deleted_at BIGINT NOT NULL);"},
    // Logout, a new password and account deletion revoke every token the
    // user holds: tokens name the epoch they were issued in.
    {9, "token epochs",
     "ALTER TABLE users ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;",
     "ALTER TABLE users ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0;"},
    // Nodes publish access changes independently, so they can arrive out of
    // order: each change and each read carries the list's version.
    {10, "access list versions",
     "ALTER TABLE documents ADD COLUMN acl_version INTEGER NOT NULL DEFAULT 0;",
     "ALTER TABLE documents ADD COLUMN acl_version BIGINT NOT NULL DEFAULT 0;"},
    // Users of an application's identity provider are keyed by the token's
    // issuer and subject; each has a users row of its own (grants, edits).
    {11, "users of an identity provider",
     R"sql(
CREATE TABLE external_users(
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY(issuer, subject));
)sql",
     R"sql(
CREATE TABLE external_users(
  issuer TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY(issuer, subject));
)sql"},
    // Webhooks: every event is written to the outbox by a trigger in the
    // transaction that causes it (a commit, a create, a delete, a session
    // joining or leaving), so a node killed right after a commit still
    // delivers it after the restart. Triggers write only while a node with
    // webhooks configured says so (webhook_config), and a document's
    // changes share one row (debounced: rev and last_at move on).
    {12, "webhook outbox", R"sql(
CREATE TABLE webhook_config(id INTEGER PRIMARY KEY CHECK (id = 1), enabled INTEGER NOT NULL DEFAULT 0);
INSERT INTO webhook_config(id, enabled) VALUES(1, 0);
CREATE TABLE webhook_outbox(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  delivery TEXT NOT NULL UNIQUE,
  event TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  rev INTEGER NOT NULL DEFAULT 0,
  user_id INTEGER,
  node_id TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '',
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at, id);
CREATE INDEX webhook_outbox_age ON webhook_outbox(first_at);
CREATE INDEX webhook_outbox_document ON webhook_outbox(doc_id, id);
CREATE TRIGGER webhook_document_created AFTER INSERT ON documents WHEN (SELECT enabled FROM webhook_config WHERE id = 1) = 1
BEGIN
  INSERT INTO webhook_outbox(delivery, event, doc_id, first_at, last_at)
  VALUES(lower(hex(randomblob(12))), 'document.created', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
CREATE TRIGGER webhook_document_changed AFTER UPDATE OF rev ON documents WHEN NEW.rev > OLD.rev AND (SELECT enabled FROM webhook_config WHERE id = 1) = 1
BEGIN
  INSERT INTO webhook_outbox(delivery, event, doc_id, rev, first_at, last_at)
  VALUES('changed:' || NEW.id, 'document.changed', NEW.id, NEW.rev, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))
  ON CONFLICT(delivery) DO UPDATE SET rev = excluded.rev, last_at = excluded.last_at;
END;
CREATE TRIGGER webhook_document_deleted AFTER DELETE ON documents WHEN (SELECT enabled FROM webhook_config WHERE id = 1) = 1
BEGIN
  DELETE FROM webhook_outbox WHERE delivery = 'changed:' || OLD.id;
  INSERT INTO webhook_outbox(delivery, event, doc_id, rev, first_at, last_at)
  VALUES(lower(hex(randomblob(12))), 'document.deleted', OLD.id, OLD.rev, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
CREATE TRIGGER webhook_session_joined AFTER INSERT ON sessions WHEN (SELECT enabled FROM webhook_config WHERE id = 1) = 1
BEGIN
  INSERT INTO webhook_outbox(delivery, event, doc_id, user_id, node_id, session_id, first_at, last_at)
  VALUES(lower(hex(randomblob(12))), 'session.joined', NEW.doc_id, NEW.user_id, NEW.node_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
         CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
CREATE TRIGGER webhook_session_changed AFTER UPDATE OF disconnected_at ON sessions
WHEN (OLD.disconnected_at IS NULL) <> (NEW.disconnected_at IS NULL) AND (SELECT enabled FROM webhook_config WHERE id = 1) = 1
BEGIN
  INSERT INTO webhook_outbox(delivery, event, doc_id, user_id, node_id, session_id, first_at, last_at)
  VALUES(lower(hex(randomblob(12))), CASE WHEN NEW.disconnected_at IS NULL THEN 'session.joined'
         ELSE 'session.left' END, NEW.doc_id, NEW.user_id, NEW.node_id, NEW.id, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
)sql",
     R"sql(
CREATE TABLE webhook_config(id INTEGER PRIMARY KEY CHECK (id = 1), enabled BOOLEAN NOT NULL DEFAULT false);
INSERT INTO webhook_config(id, enabled) VALUES(1, false);
CREATE TABLE webhook_outbox(
  id BIGSERIAL PRIMARY KEY,
  delivery TEXT NOT NULL UNIQUE,
  event TEXT NOT NULL,
  doc_id TEXT NOT NULL,
  rev BIGINT NOT NULL DEFAULT 0,
  user_id BIGINT,
  node_id TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '',
  first_at BIGINT NOT NULL,
  last_at BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at, id);
CREATE INDEX webhook_outbox_age ON webhook_outbox(first_at);
CREATE INDEX webhook_outbox_document ON webhook_outbox(doc_id, id);
CREATE FUNCTION webhook_document_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_config WHERE id = 1 AND enabled) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO webhook_outbox(delivery, event, doc_id, first_at, last_at)
    VALUES(gen_random_uuid()::text, 'document.created', NEW.id, now_ms, now_ms);
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM webhook_outbox WHERE delivery = 'changed:' || OLD.id;
    INSERT INTO webhook_outbox(delivery, event, doc_id, rev, first_at, last_at)
    VALUES(gen_random_uuid()::text, 'document.deleted', OLD.id, OLD.rev, now_ms, now_ms);
  ELSIF NEW.rev > OLD.rev THEN
    INSERT INTO webhook_outbox(delivery, event, doc_id, rev, first_at, last_at)
    VALUES('changed:' || NEW.id, 'document.changed', NEW.id, NEW.rev, now_ms, now_ms)
    ON CONFLICT (delivery) DO UPDATE SET rev = EXCLUDED.rev, last_at = EXCLUDED.last_at;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_document AFTER INSERT OR DELETE OR UPDATE OF rev ON documents
  FOR EACH ROW EXECUTE FUNCTION webhook_document_event();
CREATE FUNCTION webhook_session_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  now_ms BIGINT := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  kind TEXT;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_config WHERE id = 1 AND enabled) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' OR (OLD.disconnected_at IS NOT NULL AND NEW.disconnected_at IS NULL) THEN
    kind := 'session.joined';
  ELSIF OLD.disconnected_at IS NULL AND NEW.disconnected_at IS NOT NULL THEN
    kind := 'session.left';
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO webhook_outbox(delivery, event, doc_id, user_id, node_id, session_id, first_at, last_at)
  VALUES(gen_random_uuid()::text, kind, NEW.doc_id, NEW.user_id, NEW.node_id, NEW.id, now_ms, now_ms);
  RETURN NULL;
END $$;
CREATE TRIGGER webhook_session AFTER INSERT OR UPDATE OF disconnected_at ON sessions
  FOR EACH ROW EXECUTE FUNCTION webhook_session_event();
)sql"},
    {13, "named versions", R"sql(
CREATE TABLE document_versions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  rev INTEGER NOT NULL,
  author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  -- Last: SQLite reads the columns before a large value without walking
  -- its overflow pages, so listing versions does not read their text.
  content TEXT NOT NULL);
CREATE INDEX document_versions_doc ON document_versions(doc_id, id);
)sql",
     R"sql(
CREATE TABLE document_versions(
  id BIGSERIAL PRIMARY KEY,
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  rev BIGINT NOT NULL,
  author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  created_at BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  content TEXT NOT NULL);
CREATE INDEX document_versions_doc ON document_versions(doc_id, id);
)sql"},
    // Comment threads are stored with each snapshot (the op log after it
    // holds their later changes); commenters may comment, not edit.
    {14, "comments", R"sql(
CREATE TABLE document_acl_roles(
  doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK(role IN ('viewer','commenter','editor')),
  PRIMARY KEY(doc_id, user_id));
INSERT INTO document_acl_roles(doc_id, user_id, role) SELECT doc_id, user_id, role FROM document_acl;
DROP TABLE document_acl;
ALTER TABLE document_acl_roles RENAME TO document_acl;
CREATE INDEX document_acl_user ON document_acl(user_id);
ALTER TABLE document_content ADD COLUMN comments TEXT NOT NULL DEFAULT '';
)sql",
     R"sql(
ALTER TABLE document_acl DROP CONSTRAINT IF EXISTS document_acl_role_check;
ALTER TABLE document_acl ADD CONSTRAINT document_acl_role_check CHECK(role IN ('viewer','commenter','editor'));
ALTER TABLE documents ADD COLUMN comments TEXT NOT NULL DEFAULT '';
)sql"},
  };
  return all;
}

} // namespace stet::storage
