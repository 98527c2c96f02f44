// Messages between stet's actors: atoms and payload types (the contracts
// that use them are in actors/api.hpp). Everything here stays inside one
// process; payloads are marked unsafe so CAF never tries to serialise them
// (the bus between nodes has its own protobuf envelopes).
#pragma once

#include "actors/read_throttle.hpp"
#include "actors/session_sink.hpp"
#include "auth/access.hpp"
#include "core/document.hpp"
#include "core/error.hpp"
#include "proto/codec.hpp"
#include "core/operation.hpp"
#include "storage/store.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace stet {

using join_atom = caf::atom_constant<caf::atom("join")>;
using edit_atom = caf::atom_constant<caf::atom("edit")>;
using presence_atom = caf::atom_constant<caf::atom("presence")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using frame_atom = caf::atom_constant<caf::atom("frame")>;
using closed_atom = caf::atom_constant<caf::atom("closed")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using acl_atom = caf::atom_constant<caf::atom("acl")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using bus_atom = caf::atom_constant<caf::atom("bus")>;
using ring_atom = caf::atom_constant<caf::atom("ring")>;
using redis_atom = caf::atom_constant<caf::atom("redis")>;
using move_atom = caf::atom_constant<caf::atom("move")>;
using subscribed_atom = caf::atom_constant<caf::atom("subscribed")>;
using gone_atom = caf::atom_constant<caf::atom("gone")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using user_atom = caf::atom_constant<caf::atom("user")>;
using revoke_atom = caf::atom_constant<caf::atom("revoke")>;
using expiry_atom = caf::atom_constant<caf::atom("expiry")>;
using commit_watch_atom = caf::atom_constant<caf::atom("cwatch")>;
using recheck_atom = caf::atom_constant<caf::atom("recheck")>;
using repair_atom = caf::atom_constant<caf::atom("repair")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using open_atom = caf::atom_constant<caf::atom("open")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using share_atom = caf::atom_constant<caf::atom("share")>;
using history_atom = caf::atom_constant<caf::atom("history")>;
using version_atom = caf::atom_constant<caf::atom("version")>;
using versions_atom = caf::atom_constant<caf::atom("versions")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using find_atom = caf::atom_constant<caf::atom("find")>;
using erase_atom = caf::atom_constant<caf::atom("erase")>;
using heard_atom = caf::atom_constant<caf::atom("heard")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using hook_atom = caf::atom_constant<caf::atom("hook")>;
using hook_done_atom = caf::atom_constant<caf::atom("hookdone")>;
using hook_retry_atom = caf::atom_constant<caf::atom("hookretry")>;
using owner_atom = caf::atom_constant<caf::atom("owner")>;
using moved_atom = caf::atom_constant<caf::atom("moved")>;
using rejoin_atom = caf::atom_constant<caf::atom("rejoin")>;
using relay_watch_atom = caf::atom_constant<caf::atom("relaywatch")>;
using leaving_atom = caf::atom_constant<caf::atom("leaving")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;

/// The steady clock in nanoseconds: when a bus publication was lost, and
/// when what it may have concerned was made (lost_atom compares them).
inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Which of `n` storage actors serves `doc_id`: the registry and the REST API
/// pick the same one, so a document's writes keep their order.
inline std::size_t storage_index(const std::string& doc_id, std::size_t n) {
  return std::hash<std::string>{}(doc_id) % n;
}

/// How long an actor waits for another's answer: no request waits forever,
/// and one that times out answers its own asker with an error.
/// A store call (a load, a snapshot): outlasts a PostgreSQL restart.
constexpr std::chrono::seconds k_store_timeout{20};
/// A commit: longer, because closing the document (what a commit that
/// never answers leads to) costs every session a rejoin.
constexpr std::chrono::seconds k_commit_timeout{60};
/// An actor that answers from memory (a document, the registry).
constexpr std::chrono::seconds k_actor_timeout{5};

/// "The current revision" where a revision is asked for.
constexpr std::uint64_t k_current_rev = ~std::uint64_t{0};
/// In moved_atom: the session had not had its snapshot yet.
constexpr std::uint64_t k_unsynced = ~std::uint64_t{0} - 1;

/// A client session's actor, on the node it is connected to, as the
/// documents it joined see it.
using session_api = caf::typed_actor<
  /// The document was deleted, or the session's access to it revoked, or
  /// it closed: the session is not joined to it any more.
  caf::reacts_to<drop_atom, std::string>,
  /// The document moved, or whoever served it could not go on: (document,
  /// the last revision the session was sent, or k_unsynced before its
  /// snapshot). The session's node joins it
  /// again where it is now, from that revision, and sends again what the
  /// session had not had answered; the client notices a pause at most.
  caf::reacts_to<moved_atom, std::string, std::uint64_t>>;

/// A session asking to join a document.
struct join_request {
  std::string doc_id;
  std::string policy; // used when the join creates the document
  std::uint64_t known_rev = 0;
  bool echo = false;
  std::string client_id;
  std::string session_id;
  std::int64_t user_id = 0; // 0: anonymous session
  std::string username;     // shown in presence; empty for anonymous sessions
  session_sink_ptr sink;
  /// A session of this node: monitored (it leaves when its actor goes
  /// down) and told when it is dropped. None for a session of another node.
  session_api gateway;
  /// Set when the session lives on another node (its sink publishes there).
  std::string remote_node;
  /// Whose quota a join that creates the document counts against:
  /// "user:<id>" or "ip:<address>"; empty: the join may not create it.
  std::string creator{};
  /// What the session's token grants on the document ("owner", "editor", "commenter",
  /// "viewer"), instead of the stored access list; empty when the token
  /// has no document scope.
  std::string scoped_role{};
  /// A session its node re-attaches after a move: when it resumes, the
  /// client hears only what it missed, no snapshot.
  bool quiet = false;
};

/// A validated edit from a session that has joined the document. Its
/// author (client_id, user_id) is what the owner recorded when the session
/// joined: the owner overwrites both, whatever the sender put there.
struct edit_request : edit {
  std::string session_id;
  std::uint64_t client_ts = 0;
  /// Set when relayed from another node's session.
  std::string remote_node;
  /// The read credit of the frame it came in (see read_throttle): held
  /// until the owner has ordered or rejected it.
  read_credit credit;
  /// The previous edit the session's node forwarded to this document (0:
  /// none since the join); `chained` when the sender says (see RemoteEdit).
  std::uint64_t prev_seq = 0;
  bool chained = false;
  /// W3C trace context of the span that handed the edit on (its receive
  /// span on the session's node), or empty: the edit is not traced.
  std::string traceparent{};

  /// The edit's name in logs on every node: its deduplication key.
  std::string id() const {
    return client_id + "/" + std::to_string(client_seq);
  }
};

/// What `GET /api/documents/{id}` shows: the committed state.
/// The webhook outbox's events due now, and how it stands.
struct webhook_batch {
  std::vector<storage::webhook_row> due;
  std::int64_t expired = 0; // dropped just now: older than 24 hours
  std::int64_t depth = 0;   // events waiting, due or not
};

struct document_view {
  std::string id;
  std::string title;
  std::string text;
  std::uint64_t rev = 0;
  std::string policy;
  /// The comment threads at `rev` (kept only for the committed revision: an
  /// older `rev` shows none).
  std::map<std::uint64_t, comment_thread> comments{};
};

/// A document as stored: snapshot row, op log tail and client sequence numbers.
struct loaded_document {
  storage::document_row row;
  std::vector<storage::op_row> ops;
  std::vector<storage::client_seq_row> clients;
  storage::acl_snapshot acl;
};

/// What loading a document asks of storage.
struct load_request {
  std::string doc_id;
  /// Used when the load creates the document.
  std::string policy = "lww";
  /// Create the document when it does not exist (else unknown_document),
  /// owned by `owner_id` (0: open to everyone).
  bool create = false;
  std::int64_t owner_id = 0;
  /// Take the document's lease for this node first (cluster nodes; ""
  /// takes none): it fences every commit of the node that held it.
  std::string lease_node{};
};

/// A document as one caller may see it: its row and the caller's role.
struct visible_document {
  storage::document_row row;
  auth::role role = auth::role::none;
};

/// The owner (`caller`) gives `username` a role ("viewer", "editor"; ""
/// takes it away).
struct share_request {
  std::string doc_id;
  std::int64_t caller = 0;
  std::string username;
  std::string role;
  /// The caller's token grants this role on the document (see join_request).
  std::string scoped_role{};
};

/// A share as stored: whom it concerns and the access list's new version.
struct share_result {
  std::int64_t user_id = 0;
  std::uint64_t version = 0;
};

/// A document's revision and the history its op log still holds.
struct document_history {
  std::uint64_t rev = 0;
  std::vector<storage::history_row> entries;
};

/// The document as stored, its op log decoded. Errors: internal when the
/// log cannot be decoded or replayed (the detail says where).
result<document> restore(const loaded_document& stored, document_limits limits);

/// Converts between stet's error values and CAF's (category "stet").
caf::error to_caf(const error& err);
error from_caf(const caf::error& err);

} // namespace stet

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::webhook_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::join_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::edit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::document_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::loaded_document)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::storage::op_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<stet::storage::op_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::storage::snapshot_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::load_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::visible_document)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<stet::visible_document>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::share_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::share_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::document_history)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::storage::version_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<stet::storage::version_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::storage::document_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::storage::user_row)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<stet::storage::user_row>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<stet::storage::session_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::read_credit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::wire::BusEnvelope)
