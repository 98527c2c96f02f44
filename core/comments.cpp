#include "core/comments.hpp"

#include "core/utf8.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace stet {

namespace {

constexpr std::array<std::string_view, 5> k_kind_names{"open", "reply", "resolve", "reopen", "delete"};

std::size_t entry_bytes(const comment_entry& e) {
  return e.text.size() + e.user.size() + k_entry_overhead;
}

std::size_t thread_bytes(const comment_thread& t) {
  std::size_t n = 0;
  for (auto& e : t.entries)
    n += entry_bytes(e);
  return n;
}

// Newline and tab are text; other control characters are not, and each
// costs six bytes in every JSON frame and snapshot that carries it.
bool has_control_characters(std::string_view s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
      return true;
  return false;
}

} // namespace

std::string_view to_string(comment_kind k) noexcept {
  return k_kind_names[static_cast<std::size_t>(k)];
}

std::optional<comment_kind> parse_comment_kind(std::string_view name) noexcept {
  for (std::size_t i = 0; i < k_kind_names.size(); ++i)
    if (k_kind_names[i] == name)
      return static_cast<comment_kind>(i);
  return std::nullopt;
}

position_mover::position_mover(const operation& op) {
  // The inserts and erases by where they start in the text the operation
  // applies to, with running totals.
  std::size_t at = 0;
  first_change_ = std::numeric_limits<std::size_t>::max();
  for (auto& c : op.components()) {
    if (c.kind != component_kind::retain)
      first_change_ = std::min(first_change_, at);
    switch (c.kind) {
      case component_kind::retain: at += c.length; break;
      case component_kind::insert:
        insert_at_.push_back(at);
        inserted_.push_back((inserted_.empty() ? 0 : inserted_.back()) + c.length);
        break;
      case component_kind::erase:
        erase_at_.push_back(at);
        erase_end_.push_back(at + c.length);
        erased_.push_back((erased_.empty() ? 0 : erased_.back()) + c.length);
        at += c.length;
        break;
    }
  }
}

std::size_t position_mover::operator()(std::size_t pos, bool stay) const {
  if (pos < first_change_)
    return pos;
  // Inserts before it, and at it unless it stays before them.
  auto ins = stay ? std::lower_bound(insert_at_.begin(), insert_at_.end(), pos)
                  : std::upper_bound(insert_at_.begin(), insert_at_.end(), pos);
  auto k = static_cast<std::size_t>(ins - insert_at_.begin());
  std::size_t added = k ? inserted_[k - 1] : 0;
  // Erases that start before it: whole, or up to it for one around it.
  auto j = static_cast<std::size_t>(std::lower_bound(erase_at_.begin(), erase_at_.end(), pos) - erase_at_.begin());
  std::size_t removed = 0;
  if (j > 0)
    removed = erase_end_[j - 1] > pos ? (j > 1 ? erased_[j - 2] : 0) + (pos - erase_at_[j - 1]) : erased_[j - 1];
  return pos + added - removed;
}

namespace {

void move_with(comment_thread& t, const position_mover& move) {
  if (t.detached) {
    t.start = t.end = move(t.start, false);
    return;
  }
  if (t.end < move.first_change())
    return; // wholly before the edit
  t.start = move(t.start, false);
  t.end = move(t.end, true);
  if (t.end <= t.start) {
    t.detached = true;
    t.end = t.start;
  }
}

} // namespace

void move_thread(comment_thread& t, const operation& op) {
  move_with(t, position_mover{op});
}

status comment_threads::check(const comment_action& a, std::size_t length) const {
  auto bad = [](std::string msg) { return status{make_error(errc::invalid_argument, std::move(msg))}; };
  if (a.kind == comment_kind::open || a.kind == comment_kind::reply) {
    if (a.text.empty())
      return bad("a comment needs text");
    if (a.text.size() > limits_.max_text_bytes)
      return bad("a comment may have at most " + std::to_string(limits_.max_text_bytes) + " bytes");
    if (auto st = utf8::check_text(a.text, "comment text"); !st)
      return st;
    if (has_control_characters(a.text))
      return bad("a comment may not hold control characters other than newline and tab");
    if (bytes_ + a.text.size() + a.user.size() + k_entry_overhead > limits_.max_total_bytes)
      return bad("this document's comments are full (" + std::to_string(limits_.max_total_bytes)
                 + " bytes); delete some threads first");
    if (entries_ >= limits_.max_all_entries)
      return bad("this document has " + std::to_string(limits_.max_all_entries)
                 + " comment messages, as many as it may; delete some threads first");
  }
  if (a.kind == comment_kind::open) {
    if (a.start >= a.end || a.end > length)
      return bad("a comment's range must be start < end <= " + std::to_string(length)
                 + " (code points of the text at baseRev)");
    if (threads_.size() >= limits_.max_threads)
      return bad("a document may have at most " + std::to_string(limits_.max_threads) + " comment threads");
    return ok();
  }
  auto* t = find(a.thread);
  if (!t)
    return status{make_error(errc::unknown_document, "there is no comment thread " + std::to_string(a.thread))};
  if (a.kind == comment_kind::reply && t->entries.size() >= limits_.max_entries)
    return bad("a thread may have at most " + std::to_string(limits_.max_entries) + " messages");
  return ok();
}

void comment_threads::apply(const comment_action& a, std::uint64_t rev, std::int64_t user_id, std::uint64_t ts) {
  switch (a.kind) {
    case comment_kind::open: {
      comment_thread t{rev, a.start, a.end, false, false, {{rev, user_id, a.user, a.text, ts}}};
      bytes_ += entry_bytes(t.entries.back());
      ++entries_;
      threads_[rev] = std::move(t);
      return;
    }
    case comment_kind::reply:
      if (auto it = threads_.find(a.thread); it != threads_.end()) {
        it->second.entries.push_back({rev, user_id, a.user, a.text, ts});
        bytes_ += entry_bytes(it->second.entries.back());
        ++entries_;
      }
      return;
    case comment_kind::resolve:
    case comment_kind::reopen:
      if (auto it = threads_.find(a.thread); it != threads_.end())
        it->second.resolved = a.kind == comment_kind::resolve;
      return;
    case comment_kind::remove:
      if (auto it = threads_.find(a.thread); it != threads_.end()) {
        bytes_ -= thread_bytes(it->second);
        entries_ -= it->second.entries.size();
        threads_.erase(it);
      }
      return;
  }
}

void comment_threads::move(const operation& op) {
  if (op.is_noop() || threads_.empty())
    return;
  position_mover mover{op};
  for (auto& [id, t] : threads_)
    move_with(t, mover);
}

const comment_thread* comment_threads::find(std::uint64_t id) const {
  auto it = threads_.find(id);
  return it == threads_.end() ? nullptr : &it->second;
}

void comment_threads::assign(std::map<std::uint64_t, comment_thread> threads) {
  threads_ = std::move(threads);
  bytes_ = 0;
  entries_ = 0;
  for (auto& [id, t] : threads_) {
    bytes_ += thread_bytes(t);
    entries_ += t.entries.size();
  }
}

} // namespace stet
