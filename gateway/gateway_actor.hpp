// The logic of one WebSocket session, as an actor: decodes and validates the
// client's frames, keeps which documents the session joined, and routes
// edits and presence to their document actors. Its I/O stays on Asio in the
// session that owns the socket.
#pragma once

#include "actors/api.hpp"
#include "actors/session_sink.hpp"
#include "auth/token.hpp"
#include "auth/token_bucket.hpp"
#include "core/resend_gate.hpp"
#include "gateway/edit_ledger.hpp"
#include "gateway/gateway_context.hpp"
#include "gateway/identity.hpp"
#include "gateway/token_epochs.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace stet {

struct gateway_settings {
  std::string session_id;
  std::string node_id;
  gateway_limits limits;
  std::shared_ptr<auth::token_signer> signer;
  /// An identity provider's tokens, when configured; its users' ids.
  std::shared_ptr<const auth::jwt_verifier> jwt;
  std::shared_ptr<external_ids> external;
  bool allow_anonymous = false;
  std::shared_ptr<auth::keyed_limiter> user_edits;
  /// The client's address (a limit_key), for its anonymous document quota.
  std::string client_ip{};
  /// Token epochs (revocation) and the storage actors that know them.
  std::shared_ptr<token_epochs> epochs{};
  std::shared_ptr<const std::vector<storage_api>> stores{};
};

struct gateway_state {
  /// What a document was joined with, to join it again after a move.
  struct join_terms {
    std::string policy;
    bool echo = false;
    std::string creator;
    std::string scoped_role;
    /// The client's own known revision (a re-attach before the client had
    /// its snapshot joins as the client asked).
    std::uint64_t known_rev = 0;
    /// Moves in a row, for the back-off when views of the owner disagree.
    std::uint32_t moves = 0;
    std::chrono::steady_clock::time_point last_move{};
    /// One deadline for a run of moves: a session bounced between owners
    /// that never settle is told, not re-attached forever.
    std::chrono::steady_clock::time_point reattach_deadline{};
    bool reattaching = false;
    /// The last edit forwarded to the document since the (re)join: each
    /// edit names the one before it (edit_request::prev_seq).
    std::uint64_t last_forwarded = 0;
  };
  session_sink_ptr sink; // the socket's, wrapped in a tracked_sink
  std::shared_ptr<edit_ledger> ledger = std::make_shared<edit_ledger>();
  registry_api registry;
  gateway_settings settings;
  std::string client_id;
  bool said_hello = false;
  std::int64_t user_id = 0; // 0 until hello carries a valid token
  std::string username;
  std::int64_t token_epoch = 0;
  /// The token is an identity provider's (no stet epochs apply).
  bool external = false;
  /// The token's document scope: it grants exactly this.
  std::shared_ptr<const auth::document_scope> scope;
  /// Bumped by each accepted token, so only its own expiry timer counts.
  std::uint64_t token_generation = 0;
  /// The token expired or was revoked: nothing but hello until a fresh one.
  bool token_expired = false;
  /// A hello waits for the user's token epoch; what came after it waits too.
  bool hello_pending = false;
  std::vector<wire::ClientMessage> after_hello;
  std::optional<auth::token_bucket> session_edits;
  std::optional<auth::token_bucket> session_joins;
  std::unordered_map<std::string, document_api> joined;
  /// Per document joined or joining.
  std::unordered_map<std::string, join_terms> terms;
  /// Messages for documents whose join is still under way, replayed in order
  /// once it completes (the snapshot may reach the client first).
  std::unordered_map<std::string, std::vector<wire::ClientMessage>> joining;
  /// Per document joined or joining: the session's edits after one that
  /// was refused for now wait for its resend (only documents with one).
  std::unordered_map<std::string, resend_gate> held_back;

  static inline const char* name = "gateway";
};

using gateway_actor_type = caf::stateful_actor<gateway_state>;

/// Messages: (frame_atom, payload, is_binary) from the socket, in order;
/// (token_atom, epoch) when the user's tokens up to `epoch` were revoked;
/// (drop_atom, doc_id) when a document it joined was deleted or access to it
/// revoked; (moved_atom, doc_id, rev) when it moved: joins it again where
/// it is now and sends again what was not answered; (closed_atom) when the
/// socket closed: leaves every document and quits.
caf::behavior gateway_actor(gateway_actor_type* self, session_sink_ptr sink, registry_api registry,
                            gateway_settings settings);

} // namespace stet
