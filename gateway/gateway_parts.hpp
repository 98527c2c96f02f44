// What the parts of a session's gateway actor share (gateway_actor.cpp:
// messages, joins and edits; session_identity.cpp: hello, tokens and
// client ids). Internal to gateway/.
#pragma once

#include "gateway/gateway_actor.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace stet::gateway_session {

void send_error(gateway_actor_type* self, errc code, std::string message, std::string_view doc_id = {},
                std::uint64_t client_seq = 0);
/// Handles one client message (also those held while a hello or a join waited).
void on_message(gateway_actor_type* self, wire::ClientMessage& m, read_credit credit = {});

void on_hello(gateway_actor_type* self, const wire::Hello& hello);
/// The token expired or was revoked: the session leaves its documents and
/// hears nothing more until it says hello with a fresh token.
void expire_token(gateway_actor_type* self, std::string why);

} // namespace stet::gateway_session
