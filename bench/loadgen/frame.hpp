// What the load generator reads of a server frame (stet's JSON: protobuf's
// JSON mapping, 64-bit integers as strings): the message's kind, its rev and
// clientSeq, and whose edit an `applied` carries. Read by searching for the
// fields (see frame.cpp for why not with a JSON parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stet::loadgen {

struct frame {
  /// The message's kind: "applied", "ack", "snapshot", "error", ...
  std::string kind;
  std::uint64_t rev = 0;
  std::uint64_t client_seq = 0;
  /// The writer whose edit this is, from the tag its text starts with
  /// ("w<writer>."): anonymous authors are shown under derived names, so
  /// the text is what tells a reader whose edit arrived.
  std::optional<std::uint64_t> writer;
};

/// The fields of one message, or nullopt when it is not JSON.
std::optional<frame> read_frame(std::string_view text);

/// `bytes` bytes of English-like words (lower-case ASCII and spaces, no
/// character JSON must escape), different for every `seed`: text that
/// compresses like typing does, not like a run of one letter.
std::string prose(std::size_t bytes, std::uint64_t seed);

} // namespace stet::loadgen
