// Our own JSON for the wire messages. protobuf's JSON util builds and tears
// down a type-resolver pipeline per message: measured, it and its
// allocations were half the server's CPU replaying automerge-paper over one
// WebSocket, and a tenth of it while 19,000 clients joined. Server messages
// are printed from their descriptors (same names and number forms as
// protobuf's mapping); client messages in their usual spelling are read
// the same way. Anything else falls back to protobuf, which also words
// every error.
#pragma once

#include "proto/stet.pb.h"

#include <optional>
#include <string>
#include <string_view>

namespace stet::wire::json_fast_path {

/// A client message in its usual spelling (camelCase names), or nullopt:
/// then protobuf parses it, and names what is wrong. Unlike protobuf, a
/// key repeated within one object is not an error: the last one counts, as
/// in most JSON parsers (detecting repeats tripled the parse's cost).
std::optional<ClientMessage> parse(std::string_view frame);

/// Prints `msg` in protobuf's JSON mapping (escaping only what JSON
/// requires); false if it holds a kind of field the wire does not use.
bool print(const ServerMessage& msg, std::string& out);

/// Appends `s` escaped for a JSON string body (only what JSON requires).
void append_escaped(std::string& out, std::string_view s);

} // namespace stet::wire::json_fast_path
