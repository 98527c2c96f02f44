// The contract of every actor, as types the compiler checks: what each one
// takes, and what it answers. A handle of one of these types can only be
// sent what its actor handles; a request's answer has the declared type or
// is an error (a stet error carried in caf::error, see to_caf). Every
// request has a timeout: no actor waits for another forever.
#pragma once

#include "actors/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_behavior.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace stet {

struct joined;

/// A document as its sessions see it: the document actor on the node that
/// owns it, or the stand-in for it on every other node.
using document_api = caf::typed_actor<
  /// Admits a session: its snapshot, or the revisions it missed, go to its
  /// sink first; the answer names the actor to send its edits to. Errors:
  /// forbidden, not_joined (it left meanwhile), fenced (the document moved),
  /// unknown_document.
  caf::replies_to<join_atom, join_request>::with<joined>,
  /// An edit of a joined session; its ack or error goes to the session.
  caf::reacts_to<edit_atom, edit_request>,
  /// A session's cursor: (node, session, cursor, anchor), node "" for a
  /// session of this node.
  caf::reacts_to<presence_atom, std::string, std::string, std::uint32_t, std::uint32_t>,
  /// A session of this node leaves.
  caf::reacts_to<leave_atom, std::string>,
  /// Another node owns the document now, or messages may have been lost:
  /// the sessions are told to join again, and the actor stops.
  caf::reacts_to<move_atom>>;

/// What a join answers: the document to send the session's edits to.
struct joined {
  document_api document;
};

/// The document actor on its owner: its sessions' contract, plus what the
/// registry tells it.
using document_actor_api = document_api::extend<
  /// A session of another node leaves: (node, session).
  caf::reacts_to<leave_atom, std::string, std::string>,
  /// A node left the cluster: its sessions are forgotten.
  caf::reacts_to<gone_atom, std::string>,
  /// (node or "", steady_now_ns of the loss): what was published for the
  /// node's sessions (every other node's, for "") was lost on the bus:
  /// those joined before the loss are told to re-attach, and forgotten.
  caf::reacts_to<lost_atom, std::string, std::int64_t>,
  /// The committed text at a revision (k_current_rev: the newest). Errors:
  /// bad_rev, rev_too_old (no longer in memory).
  caf::replies_to<get_atom, std::uint64_t>::with<document_view>,
  /// A grant changed: (user, role or "" for revoked, access list version).
  caf::reacts_to<acl_atom, std::int64_t, std::string, std::uint64_t>,
  /// Read who may open the document again (bus messages may be lost).
  caf::reacts_to<acl_atom>,
  /// The document was deleted: the sessions are told, the actor stops.
  caf::reacts_to<drop_atom>,
  // -- its own timers --
  caf::reacts_to<commit_watch_atom>, caf::reacts_to<recheck_atom>,
  caf::reacts_to<presence_atom>, caf::reacts_to<idle_atom, std::uint64_t>>;

/// The stand-in on a node that does not own the document: its sessions'
/// contract, plus what the owner sends over the bus.
using remote_document_api = document_api::extend<
  /// An envelope of the owner (frames for sessions here, applied edits),
  /// parsed by the router.
  caf::reacts_to<bus_atom, wire::BusEnvelope>,
  /// Redis confirmed the subscription to the document's channel.
  caf::reacts_to<subscribed_atom>,
  /// Its own timer: does the owner still answer?
  caf::reacts_to<relay_watch_atom>,
  /// (steady_now_ns of the loss): what this node sent the owner was lost
  /// on the bus; a stand-in made before then re-attaches its sessions.
  caf::reacts_to<lost_atom, std::int64_t>>;

/// The directory of a node's documents, and its router in a cluster.
using registry_api = caf::typed_actor<
  /// Routes a join to the document (loading it once, however many joiners
  /// wait) or to its owner. Errors: as document_api's join, storage_unavailable,
  /// rate_limited (documents created).
  caf::replies_to<join_atom, join_request>::with<joined>,
  /// GET of a document at a revision (k_current_rev: the newest): from the
  /// open document, or from storage. Errors: unknown_document, bad_rev,
  /// rev_too_old.
  caf::replies_to<get_atom, std::string, std::uint64_t>::with<document_view>,
  /// A grant stored here: (document, user, role or "", access list
  /// version); to the document and to every node.
  caf::reacts_to<acl_atom, std::string, std::int64_t, std::string, std::uint64_t>,
  /// A document deleted here: its actor stops, on every node.
  caf::reacts_to<drop_atom, std::string>,
  /// The same, stored by another node: to the document here only.
  caf::reacts_to<heard_atom, std::string, std::int64_t, std::string, std::uint64_t>,
  caf::reacts_to<heard_atom, std::string>,
  // -- sessions of other nodes (relayed by the router; joins as above) --
  /// An edit for the document: (document, edit naming its node and session).
  caf::reacts_to<edit_atom, std::string, edit_request>,
  /// (document, node, session, cursor, anchor).
  caf::reacts_to<presence_atom, std::string, std::string, std::string, std::uint32_t, std::uint32_t>,
  /// (document, node, session).
  caf::reacts_to<leave_atom, std::string, std::string, std::string>,
  /// A user's tokens up to an epoch were revoked here: tell this node's
  /// sessions and every node.
  caf::reacts_to<revoke_atom, std::int64_t, std::int64_t>,
  /// An idle document asks to stop: (document, joins it has seen).
  caf::replies_to<idle_atom, std::string, std::uint64_t>::with<bool>,
  /// (open documents, those still handing over included; storage loads so far).
  caf::replies_to<stats_atom>::with<std::uint64_t, std::uint64_t>,
  /// Which of these documents this node owns now (the webhook sender
  /// sends only its own documents' events).
  caf::replies_to<owner_atom, std::vector<std::string>>::with<std::vector<std::string>>,
  // -- from the router --
  /// The live nodes, sorted.
  caf::reacts_to<ring_atom, std::vector<std::string>>,
  /// The bus is up (after it dropped: what was lost is repaired) or down
  /// (no new document opens here until it is back).
  caf::reacts_to<redis_atom, bool>,
  /// (document, node or "", to its owner, steady_now_ns of the loss):
  /// this node's publications about the document to that node (every node,
  /// for "") were lost, and the node listens again. Sessions re-attach: a
  /// stand-in's requests to its owner were lost, or an owner's frames for
  /// that node's sessions.
  caf::reacts_to<lost_atom, std::string, std::string, bool, std::int64_t>>;

/// What the Redis bridge hands over (the registry is it).
using bus_listener_api = caf::typed_actor<caf::reacts_to<bus_atom, std::string>,
                                          caf::reacts_to<ring_atom, std::vector<std::string>>,
                                          caf::reacts_to<redis_atom, bool>,
                                          caf::reacts_to<lost_atom, std::string, std::string, bool, std::int64_t>>;

/// The router between the bridge and the registry (cluster_router.hpp):
/// what the bridge hands over, and the stand-ins the registry announces.
using cluster_router_api =
  bus_listener_api::extend<caf::reacts_to<route_atom, std::string, remote_document_api>>;

/// The registry's own type: its contract, its own timer, and the router it
/// announces stand-ins to.
using registry_actor_api =
  registry_api::extend<caf::reacts_to<repair_atom>, caf::reacts_to<route_atom, cluster_router_api>>;

/// A storage actor: one connection to the database, its calls on a thread
/// of their own. Failures are stet errors: storage_unavailable (the
/// database is away: retry), unknown_document, fenced, forbidden,
/// unauthorized, invalid_argument, nul_character, internal.
using storage_api = caf::typed_actor<
  // -- documents' actors --
  /// Loads a document (creating it, taking its lease; see load_request).
  caf::replies_to<load_atom, load_request>::with<loaded_document>,
  /// Who may open a document now: its row and access list only.
  caf::replies_to<acl_atom, std::string>::with<loaded_document>,
  /// A user's token epoch. Errors: unauthorized when the account is gone.
  caf::replies_to<user_atom, std::int64_t>::with<std::int64_t>,
  /// Stores a document's ordered edits and session records; answered once
  /// durable, in the order sent. Storage groups the writes it holds into
  /// one transaction and retries while the database is away.
  caf::replies_to<commit_atom, std::vector<storage::op_row>, std::vector<storage::session_event>>::with<caf::ok_atom>,
  /// Stores a snapshot (and prunes the op log behind it).
  caf::replies_to<snapshot_atom, storage::snapshot_row>::with<caf::ok_atom>,
  // -- the REST API, as the caller (user 0: anonymous) --
  caf::replies_to<create_atom, storage::document_row>::with<storage::document_row>,
  caf::replies_to<list_atom, std::int64_t>::with<std::vector<visible_document>>,
  /// A document and the caller's role; unknown_document when the caller
  /// may not see it.
  /// (document, caller, the role the caller's token grants or "").
  caf::replies_to<open_atom, std::string, std::int64_t, std::string>::with<visible_document>,
  /// Deletes a document the caller owns (forbidden otherwise). Deletes,
  /// shares and revokes are told to the registry once stored.
  caf::replies_to<delete_atom, std::string, std::int64_t, std::string>::with<caf::ok_atom>,
  caf::replies_to<share_atom, share_request>::with<share_result>,
  caf::replies_to<history_atom, std::string, std::int64_t, std::string>::with<document_history>,
  /// Names a version (the row's author is the caller; editors only), with
  /// the caller's token role: the version stored.
  caf::replies_to<version_atom, storage::version_row, std::string>::with<storage::version_row>,
  /// (document, caller, token role): its versions, without their text.
  caf::replies_to<versions_atom, std::string, std::int64_t, std::string>::with<std::vector<storage::version_row>>,
  /// (document, caller, token role, version id): one version with its
  /// text; unknown_document when there is no such version.
  caf::replies_to<version_atom, std::string, std::int64_t, std::string, std::int64_t>::with<storage::version_row>,
  /// (document, caller, token role, version id): deletes a version (its
  /// document's owner, or its signed-in author while an editor).
  caf::replies_to<delete_atom, std::string, std::int64_t, std::string, std::int64_t>::with<caf::ok_atom>,
  // -- accounts --
  /// invalid_argument when the name is taken.
  caf::replies_to<register_atom, storage::user_row>::with<storage::user_row>,
  /// By name; none when there is no such user.
  caf::replies_to<find_atom, std::string>::with<std::optional<storage::user_row>>,
  /// By id. Errors: unauthorized when the account is gone.
  caf::replies_to<find_atom, std::int64_t>::with<storage::user_row>,
  /// The user of an identity provider's (issuer, subject), created on
  /// first sight.
  caf::replies_to<find_atom, std::string, std::string>::with<storage::user_row>,
  /// Revokes every token of a user (and sets a new password hash unless
  /// it is ""): the new epoch.
  caf::replies_to<revoke_atom, std::int64_t, std::string>::with<std::int64_t>,
  /// Deletes an account: the documents deleted with it.
  caf::replies_to<erase_atom, std::int64_t>::with<std::vector<std::string>>,
  // -- the webhook outbox (see webhook_sender) --
  /// (debounce ms, longest wait ms, housekeeping): the events due; with
  /// housekeeping, after dropping those older than 24 hours, and counted.
  caf::replies_to<hook_atom, std::int64_t, std::int64_t, bool>::with<webhook_batch>,
  /// (event, rev sent): delivered to every receiver.
  caf::replies_to<hook_done_atom, std::int64_t, std::uint64_t>::with<caf::ok_atom>,
  /// (event, ms until the next attempt): a receiver failed.
  caf::replies_to<hook_retry_atom, std::int64_t, std::int64_t>::with<caf::ok_atom>>;

/// The storage actor's own type: its contract, its own timers, and the
/// registry it tells what it stored for the REST API (a delete, a grant,
/// revoked tokens), whether or not the asker still waits for the answer.
using storage_actor_api =
  storage_api::extend<caf::reacts_to<flush_atom>, caf::reacts_to<retry_atom>, caf::reacts_to<snapshot_atom>,
                      caf::reacts_to<route_atom, registry_api>>;

} // namespace stet

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(stet::joined)
