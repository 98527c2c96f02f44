// A document's comment threads: each on a range of the text, kept anchored
// as edits move and delete that text, with replies and a resolved flag.
// A change to the threads is an edit of its own (an edit with no ops and a
// comment_action), so it is ordered, deduplicated, made durable and fanned
// out with the text's revisions, and every replica of the document moves
// the same anchors with the same operations.
#pragma once

#include "core/error.hpp"
#include "core/operation.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

enum class comment_kind : std::uint8_t { open, reply, resolve, reopen, remove };

std::string_view to_string(comment_kind k) noexcept;
/// "open" | "reply" | "resolve" | "reopen" | "delete".
std::optional<comment_kind> parse_comment_kind(std::string_view name) noexcept;

/// A change to the threads, as a client asks for it and as it is applied.
struct comment_action {
  comment_kind kind = comment_kind::open;
  /// The thread it concerns (its id: the revision that opened it); unused
  /// for `open`, whose thread is the revision it gets.
  std::uint64_t thread = 0;
  /// `open`: the commented range [start, end) in code points, of the text
  /// at the edit's base revision as asked, of the text it is applied to as
  /// applied.
  std::size_t start = 0;
  std::size_t end = 0;
  /// `open`, `reply`: the message.
  std::string text;
  /// The author's name as the server knows it (empty: anonymous).
  std::string user;

  bool operator==(const comment_action&) const = default;
};

struct comment_entry {
  /// The revision that added it.
  std::uint64_t rev = 0;
  std::int64_t user_id = 0;
  std::string user;
  std::string text;
  /// The revision's hybrid clock stamp.
  std::uint64_t ts = 0;

  bool operator==(const comment_entry&) const = default;
};

struct comment_thread {
  /// The revision that opened it.
  std::uint64_t id = 0;
  /// The range now, code points. Detached: its text was deleted, and
  /// start == end where it was; it never anchors again.
  std::size_t start = 0;
  std::size_t end = 0;
  bool detached = false;
  bool resolved = false;
  /// The opening message first, then the replies in order.
  std::vector<comment_entry> entries;

  bool operator==(const comment_thread&) const = default;
};

/// Moves a thread's range over an operation applied to its text: an insert
/// at the start goes before the range, one at the end after it, one inside
/// extends it; erasing all of it detaches the thread.
void move_thread(comment_thread& thread, const operation& op);

/// What one document may hold: bounds its memory, its snapshot and what a
/// joining client is sent (the threads come with the text).
struct comment_limits {
  std::size_t max_threads = 2000;
  /// Messages in one thread, and in all of them.
  std::size_t max_entries = 500;
  std::size_t max_all_entries = 10000;
  std::size_t max_text_bytes = 16 * 1024;
  /// Every message's text and name, plus k_entry_overhead each.
  std::size_t max_total_bytes = 4 * 1024 * 1024;
};

/// What a message costs beyond its text and name, in comment_limits'
/// byte count: its numbers in memory and on the wire.
constexpr std::size_t k_entry_overhead = 64;

class comment_threads {
public:
  explicit comment_threads(comment_limits limits = {}) : limits_(limits) {
  }

  /// Checks that `a`, with its range already as of the current text of
  /// `length` code points, can be applied. Errors: invalid_argument (an
  /// empty or too long message, control characters but newline and tab, a
  /// range outside the text or empty, too many threads, messages or
  /// bytes), nul_character, invalid_utf8, unknown_document (no such thread).
  status check(const comment_action& a, std::size_t length) const;
  /// Applies a checked action as revision `rev` of `user_id` at `ts`.
  void apply(const comment_action& a, std::uint64_t rev, std::int64_t user_id, std::uint64_t ts);
  /// Moves every thread over an edit of the text.
  void move(const operation& op);

  const std::map<std::uint64_t, comment_thread>& threads() const noexcept {
    return threads_;
  }
  /// The thread, or nullptr.
  const comment_thread* find(std::uint64_t id) const;
  /// Replaces every thread (a stored snapshot's).
  void assign(std::map<std::uint64_t, comment_thread> threads);

private:
  comment_limits limits_;
  std::map<std::uint64_t, comment_thread> threads_;
  std::size_t bytes_ = 0;
  std::size_t entries_ = 0;
};

/// Where positions land after one operation (the rule of move_thread: an
/// insert at a position goes before it unless it `stay`s), each in two
/// binary searches over the operation's inserts and erases, however many
/// positions one edit moves.
class position_mover {
public:
  explicit position_mover(const operation& op);
  std::size_t operator()(std::size_t pos, bool stay) const;
  /// Positions before this one are where they were.
  std::size_t first_change() const noexcept {
    return first_change_;
  }

private:
  std::vector<std::size_t> insert_at_, inserted_, erase_at_, erase_end_, erased_;
  std::size_t first_change_ = 0;
};

} // namespace stet
