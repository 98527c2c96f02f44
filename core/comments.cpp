#include "core/comments.hpp"

#include "core/utf8.hpp"

#include <algorithm>
#include <array>

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

void move_positions(std::vector<moving_position>& positions, const operation& op) {
  if (op.is_noop() || positions.empty())
    return;
  // The operation's inserts and erases by where they start in the text it
  // applies to, with running totals: each position then needs two binary
  // searches instead of a walk over every component.
  std::vector<std::size_t> insert_at, inserted, erase_at, erase_end, erased;
  std::size_t at = 0;
  for (auto& c : op.components()) {
    switch (c.kind) {
      case component_kind::retain: at += c.length; break;
      case component_kind::insert:
        insert_at.push_back(at);
        inserted.push_back((inserted.empty() ? 0 : inserted.back()) + c.length);
        break;
      case component_kind::erase:
        erase_at.push_back(at);
        erase_end.push_back(at + c.length);
        erased.push_back((erased.empty() ? 0 : erased.back()) + c.length);
        at += c.length;
        break;
    }
  }
  for (auto& p : positions) {
    auto pos = *p.at;
    // Inserts before it, and at it unless it stays before them.
    auto ins = p.stay ? std::lower_bound(insert_at.begin(), insert_at.end(), pos)
                      : std::upper_bound(insert_at.begin(), insert_at.end(), pos);
    auto k = static_cast<std::size_t>(ins - insert_at.begin());
    std::size_t added = k ? inserted[k - 1] : 0;
    // Erases that start before it: whole, or up to it for one around it.
    auto j = static_cast<std::size_t>(std::lower_bound(erase_at.begin(), erase_at.end(), pos) - erase_at.begin());
    std::size_t removed = 0;
    if (j > 0) {
      bool around = erase_end[j - 1] > pos;
      removed = (around ? (j > 1 ? erased[j - 2] : 0) + (pos - erase_at[j - 1]) : erased[j - 1]);
    }
    *p.at = pos + added - removed;
  }
}

void move_thread(comment_thread& t, const operation& op) {
  std::vector<moving_position> ends{{&t.start, false}};
  if (!t.detached)
    ends.push_back({&t.end, true});
  move_positions(ends, op);
  if (t.detached || t.end <= t.start) {
    t.detached = true;
    t.end = t.start;
  }
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
  std::vector<moving_position> ends;
  ends.reserve(2 * threads_.size());
  for (auto& [id, t] : threads_) {
    ends.push_back({&t.start, false});
    if (!t.detached)
      ends.push_back({&t.end, true});
  }
  move_positions(ends, op);
  for (auto& [id, t] : threads_)
    if (t.detached || t.end <= t.start) {
      t.detached = true;
      t.end = t.start;
    }
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
