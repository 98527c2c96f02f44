// Decoding and encoding of wire frames, and conversion between wire
// components and core operations. Every rejection is an `error` whose code
// and message go back to the client as-is.
#pragma once

#include "core/error.hpp"
#include "core/comments.hpp"
#include "core/operation.hpp"
#include "proto/stet.pb.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace stet::wire {

enum class frame_format { json, binary };

/// Parses one frame. Errors: bad_message (not JSON/protobuf, or a field of
/// the wrong type), unknown_message (no message type we know), invalid_utf8
/// (a text field is not UTF-8).
result<ClientMessage> decode_client(std::string_view frame, frame_format format);

/// Parses a server frame (used by tests and the load generator).
result<ServerMessage> decode_server(std::string_view frame, frame_format format);

std::string encode(const ServerMessage& msg, frame_format format);
std::string encode(const ClientMessage& msg, frame_format format);

/// One server message encoded lazily in each format, shared by every
/// receiver: a broadcast is serialised at most twice, however many sessions
/// receive it.
class encoded_message {
public:
  explicit encoded_message(ServerMessage msg) : msg_(std::move(msg)) {
  }
  /// Thread-safe: receivers on several threads may ask at once.
  std::shared_ptr<const std::string> get(frame_format format) const;

private:
  ServerMessage msg_;
  mutable std::shared_ptr<const std::string> json_;
  mutable std::shared_ptr<const std::string> binary_;
};

/// Converts client components to an operation. Errors: invalid_argument
/// (component without a kind, zero length, empty insert), invalid_utf8.
result<operation> to_operation(const google::protobuf::RepeatedPtrField<Component>& ops);

/// Appends `op`'s components; with `with_deleted`, delete components carry the
/// removed text.
void to_wire(const operation& op, google::protobuf::RepeatedPtrField<Component>* out, bool with_deleted);

/// The op-log encoding of an applied operation (removed text included), or
/// of a revision that changed the comment threads (`comment`, as applied).
std::string encode_stored(const operation& op, const comment_action* comment = nullptr);
/// Errors: bad_message when `bytes` is not a stored operation. A stored
/// comment change goes to `comment` when given.
result<operation> decode_stored(std::string_view bytes, std::optional<comment_action>* comment = nullptr);

/// One envelope of a bus payload, parsed, with its own encoding.
struct bus_item {
  BusEnvelope envelope;
  std::string bytes;
};
/// The envelopes of an (already authenticated) bus payload, in order: the
/// envelope itself, or the envelopes of its batch. Errors: bad_message
/// (undecodable), invalid_argument for a batch inside a batch (a node never
/// sends one; refusing it bounds the work one payload can cause).
result<std::vector<bus_item>> decode_bus(std::string_view payload);

ServerMessage make_error(const stet::error& err, std::string_view doc_id = {}, std::uint64_t client_seq = 0);

} // namespace stet::wire
