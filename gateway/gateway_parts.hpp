// What the parts of a session's gateway actor share (gateway_actor.cpp:
// messages, joins and edits; session_identity.cpp: hello, tokens and
// client ids). Internal to gateway/.
#pragma once

#include "gateway/gateway_actor.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace stet::gateway_session {

void send_error(gateway_actor_type* self, errc code, std::string message, std::string_view doc_id = {},
                std::uint64_t client_seq = 0);
/// Handles one client message (also those held while a hello or a join waited).
void on_message(gateway_actor_type* self, wire::ClientMessage& m, read_credit credit = {});

void on_hello(gateway_actor_type* self, const wire::Hello& hello);

// -- session_moves.cpp --

/// How long a join may take, retries included: a client's own join, and a
/// re-attach after a move (the membership's expiry and a load, with room).
constexpr std::chrono::seconds k_join_window{30};
constexpr std::chrono::seconds k_reattach_window{20};

/// Joins `doc_id` with the session's terms for it (state.terms; it must be
/// in state.joining, whose messages follow the join). Refusals a moment
/// cures (the document is moving, storage or the owner did not answer) are
/// retried until `deadline`; then the client is told.
enum class join_kind : std::uint8_t {
  client, // the client's own join: it resends what it has unanswered
  resume, // a re-attach after a move, quiet (no snapshot), from `known_rev`
  rejoin, // a re-attach before the client had its snapshot: it gets one
};
/// A re-attach (resume, rejoin) sends again the edits nobody answered.
void request_join(gateway_actor_type* self, const std::string& doc_id, std::uint64_t known_rev, join_kind kind,
                  std::chrono::steady_clock::time_point deadline, std::uint32_t attempt = 0);
/// The document moved (moved_atom from what the session was joined to).
void on_moved(gateway_actor_type* self, const std::string& doc_id, std::uint64_t rev);
/// The session is done with the document (left, dropped, token expired).
void forget_document(gateway_actor_type* self, const std::string& doc_id);
/// The token expired or was revoked: the session leaves its documents and
/// hears nothing more until it says hello with a fresh token.
void expire_token(gateway_actor_type* self, std::string why);

} // namespace stet::gateway_session
