// Hand-written JSON for the hottest messages (edit in, ack and applied
// out) and for a large snapshot's text. protobuf's JSON util builds and tears down a type-resolver pipeline
// per message; measured on the automerge-paper replay over one WebSocket,
// it and its allocations were half the server's CPU. Anything outside the
// plain shape falls back to protobuf, which also words every error.
#pragma once

#include "proto/stet.pb.h"

#include <optional>
#include <string>
#include <string_view>

namespace stet::wire::json_fast_path {

/// `{"edit":{...}}` in its usual spelling, or nullopt (then use protobuf).
std::optional<ClientMessage> parse_edit(std::string_view frame);

/// Prints acks, applied edits and large snapshots; false for anything else.
bool print(const ServerMessage& msg, std::string& out);

/// Appends `s` escaped for a JSON string body (only what JSON requires).
void append_escaped(std::string& out, std::string_view s);

} // namespace stet::wire::json_fast_path
