#include "core/comments.hpp"

#include "core/utf8.hpp"

#include <array>

namespace stet {

namespace {

constexpr std::array<std::string_view, 5> k_kind_names{"open", "reply", "resolve", "reopen", "delete"};

// Where a position lands after `op`: inserts at it go before it unless
// `stay`, erases around it pull it to their start.
std::size_t moved(std::size_t pos, const operation& op, bool stay) {
  std::size_t at = 0, out = pos;
  for (auto& c : op.components()) {
    if (at > pos)
      break;
    switch (c.kind) {
      case component_kind::retain: at += c.length; break;
      case component_kind::insert:
        if (at < pos || (at == pos && !stay))
          out += c.length;
        break;
      case component_kind::erase:
        out -= std::min(c.length, pos > at ? pos - at : 0);
        at += c.length;
        break;
    }
  }
  return out;
}

std::size_t entry_bytes(const comment_thread& t) {
  std::size_t n = 0;
  for (auto& e : t.entries)
    n += e.text.size();
  return n;
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

void move_thread(comment_thread& t, const operation& op) {
  if (t.detached) {
    t.start = t.end = moved(t.start, op, false);
    return;
  }
  t.start = moved(t.start, op, false);
  t.end = moved(t.end, op, true);
  if (t.end <= t.start) {
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
    if (bytes_ + a.text.size() > limits_.max_total_bytes)
      return bad("this document's comments are full (" + std::to_string(limits_.max_total_bytes)
                 + " bytes); delete some threads first");
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
      bytes_ += a.text.size();
      threads_[rev] = std::move(t);
      return;
    }
    case comment_kind::reply:
      if (auto it = threads_.find(a.thread); it != threads_.end()) {
        it->second.entries.push_back({rev, user_id, a.user, a.text, ts});
        bytes_ += a.text.size();
      }
      return;
    case comment_kind::resolve:
    case comment_kind::reopen:
      if (auto it = threads_.find(a.thread); it != threads_.end())
        it->second.resolved = a.kind == comment_kind::resolve;
      return;
    case comment_kind::remove:
      if (auto it = threads_.find(a.thread); it != threads_.end()) {
        bytes_ -= entry_bytes(it->second);
        threads_.erase(it);
      }
      return;
  }
}

void comment_threads::move(const operation& op) {
  if (op.is_noop())
    return;
  for (auto& [id, t] : threads_)
    move_thread(t, op);
}

const comment_thread* comment_threads::find(std::uint64_t id) const {
  auto it = threads_.find(id);
  return it == threads_.end() ? nullptr : &it->second;
}

void comment_threads::assign(std::map<std::uint64_t, comment_thread> threads) {
  threads_ = std::move(threads);
  bytes_ = 0;
  for (auto& [id, t] : threads_)
    bytes_ += entry_bytes(t);
}

} // namespace stet
