// Comment threads and changes to them, between the core's types and the
// wire's (proto/stet.proto: CommentAction, CommentThread), and the encoding
// a snapshot stores them in.
#pragma once

#include "core/comments.hpp"
#include "core/error.hpp"
#include "proto/stet.pb.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace stet::wire {

/// A change as a client (or another node) sent it. Errors: invalid_argument
/// (no such kind), invalid_utf8, nul_character.
/// Ranges and sizes are checked by the document (comment_threads::check).
result<comment_action> to_comment(const CommentAction& in);
void to_wire(const comment_action& a, CommentAction* out);
void to_wire(const comment_thread& t, CommentThread* out);

/// The threads as a snapshot stores them: protobuf's JSON mapping of
/// CommentThreads (text, so every backend stores it as text); "" for none.
std::string encode_threads(const std::map<std::uint64_t, comment_thread>& threads);
/// Errors: internal when `stored` is not what encode_threads makes (fields
/// it does not know are skipped; a damaged thread is not).
result<std::map<std::uint64_t, comment_thread>> decode_threads(std::string_view stored);

} // namespace stet::wire
