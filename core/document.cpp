#include "core/document.hpp"

#include "core/resend_gate.hpp"
#include "core/utf8.hpp"

#include <algorithm>

namespace stet {

namespace {

// What a heap block of `size` bytes costs glibc's malloc: its header, and
// at least its smallest chunk.
std::size_t heap_block(std::size_t size) {
  return std::max<std::size_t>(32, (size + 8 + 15) / 16 * 16);
}

std::size_t heap_of(const std::string& s) {
  return s.capacity() > 15 ? heap_block(s.capacity() + 1) : 0;
}

// An estimate of one entry's memory; the deque's own blocks are counted in
// sizeof(history_entry).
std::size_t footprint(const history_entry& e) {
  auto& parts = e.op.components();
  std::size_t n = sizeof(history_entry) + heap_of(e.client_id);
  if (parts.capacity() > 0)
    n += heap_block(parts.capacity() * sizeof(component));
  for (auto& c : parts)
    n += heap_of(c.text);
  if (e.comment) // the control block and the action in one allocation
    n += heap_block(sizeof(comment_action) + 16) + heap_of(e.comment->text) + heap_of(e.comment->user);
  return n;
}

// Applies a history entry to a set of threads: the entry's comment change,
// or its edit of the text.
void replay(comment_threads& threads, const history_entry& e) {
  if (e.comment)
    threads.apply(*e.comment, e.rev, e.user_id, e.ts);
  else
    threads.move(e.op);
}

error damaged(const std::string& id, std::string why) {
  return make_error(errc::internal, "document " + id + " cannot be opened: its stored history is damaged",
                    std::move(why));
}

} // namespace

std::string client_key(std::int64_t user_id, std::string_view client_id) {
  auto key = std::to_string(user_id);
  key += ':';
  key += client_id;
  return key;
}

document::document(std::string id, conflict_policy policy, document_limits limits, std::string text,
                   std::uint64_t rev, std::uint64_t last_ts)
  : id_(std::move(id)), policy_(policy), limits_(limits), text_(text), rev_(rev), clock_(last_ts),
    durable_rev_(rev) {
}

result<document> document::restore(stored_document stored, document_limits limits) {
  document d{stored.id, stored.policy, limits, stored.snapshot, stored.snapshot_rev, stored.last_ts};
  for (auto& [id, t] : stored.comments)
    if (t.end > d.text_.size() || id > stored.snapshot_rev)
      return damaged(stored.id, "comment thread " + std::to_string(id) + " does not fit the snapshot of rev "
                                  + std::to_string(stored.snapshot_rev));
  d.comments_.assign(std::move(stored.comments));
  // Entries at or before the snapshot only feed the history; their lengths
  // follow backwards from the snapshot's.
  std::vector<history_entry> before;
  for (auto& e : stored.log) {
    if (e.rev <= stored.snapshot_rev) {
      before.push_back(std::move(e));
      continue;
    }
    // Clients are told the document cannot be opened; the log says why.
    if (e.rev != d.rev_ + 1)
      return damaged(stored.id, "op log jumps from rev " + std::to_string(d.rev_) + " to " + std::to_string(e.rev));
    e.length_before = d.text_.size();
    if (auto st = apply(d.text_, e.op); !st)
      return damaged(stored.id, "op log does not replay at rev " + std::to_string(e.rev) + ": " + st.error().message);
    d.rev_ = e.rev;
    replay(d.comments_, e);
    d.clock_ = hybrid_clock{std::max(d.clock_.last(), e.ts)};
    if (!e.client_id.empty())
      d.remember_client(client_key(e.user_id, e.client_id), e.client_seq, e.rev);
    d.history_bytes_ += footprint(e);
    d.history_.push_back(std::move(e));
  }
  auto length = utf8::length(stored.snapshot);
  bool contiguous = !before.empty() && before.back().rev == stored.snapshot_rev;
  for (auto it = before.rbegin(); contiguous && it != before.rend(); ++it) {
    if (it != before.rbegin() && it->rev + 1 != std::prev(it)->rev)
      break;
    length -= static_cast<std::size_t>(it->op.length_delta());
    it->length_before = length;
    d.history_bytes_ += footprint(*it);
    d.history_.push_front(std::move(*it));
  }
  for (auto& c : stored.clients)
    d.remember_client(c.key, c.client_seq, c.rev);
  // Everything loaded is committed. Ages are judged at the next commit:
  // a document loaded to show an old revision keeps all it can.
  d.durable_rev_ = d.rev_;
  d.durable_comments_ = d.comments_;
  d.mark_durable(d.rev_, 0);
  return d;
}

const history_entry* document::entry(std::uint64_t rev) const noexcept {
  if (history_.empty() || rev < history_.front().rev || rev > history_.back().rev)
    return nullptr;
  return &history_[rev - history_.front().rev];
}

std::uint64_t document::oldest_base() const noexcept {
  return history_.empty() ? rev_ : history_.front().rev - 1;
}

std::string document::text_at(std::uint64_t rev) const {
  if (rev >= rev_)
    return text_.str();
  text_buffer copy = text_;
  for (auto r = rev_; r > rev; --r) {
    auto undo = invert(entry(r)->op);
    (void) apply(copy, undo);
  }
  return copy.str();
}

void document::mark_durable(std::uint64_t rev, std::uint64_t now_ms) {
  // The durable threads follow the revisions as they become durable: the
  // history holds every revision after durable_rev_ (it is trimmed below
  // only up to it).
  for (auto r = durable_rev_ + 1; r <= std::min(rev, rev_); ++r)
    replay(durable_comments_, *entry(r));
  durable_rev_ = std::max(durable_rev_, std::min(rev, rev_));
  auto expired = [&](const history_entry& e) {
    return history_.size() > limits_.history_min
           && hybrid_clock::milliseconds_of(e.ts) + limits_.history_age_ms < now_ms;
  };
  while (!history_.empty() && history_.front().rev <= durable_rev_) {
    auto& oldest = history_.front();
    if (history_.size() <= limits_.history && history_bytes_ <= limits_.history_bytes && !expired(oldest))
      break;
    history_bytes_ -= footprint(oldest);
    history_.pop_front();
  }
}

void document::remember_client(const std::string& key, std::uint64_t client_seq, std::uint64_t rev) {
  auto& c = clients_[key];
  if (client_seq > c.seq) {
    c.seq = client_seq;
    c.rev = rev;
  }
  if (clients_.size() > limits_.max_clients)
    forget_oldest_clients();
}

// Forgets the half of the clients whose last edit is oldest (amortised:
// one pass per max_clients / 2 new clients).
void document::forget_oldest_clients() {
  std::vector<std::uint64_t> revs;
  revs.reserve(clients_.size());
  for (auto& [key, c] : clients_)
    revs.push_back(c.rev);
  auto middle = revs.begin() + static_cast<std::ptrdiff_t>(revs.size() / 2);
  std::nth_element(revs.begin(), middle, revs.end());
  auto cutoff = *middle;
  for (auto it = clients_.begin(); it != clients_.end();)
    it = it->second.rev < cutoff ? clients_.erase(it) : std::next(it);
}

void document::hold_back(std::int64_t user_id, std::string_view client_id, std::uint64_t client_seq) {
  if (client_id.empty())
    return;
  auto& c = clients_[client_key(user_id, client_id)];
  // One already applied comes back as a duplicate whatever follows it.
  if (client_seq <= c.seq)
    return;
  if (c.held_from == 0 || client_seq < c.held_from)
    c.held_from = client_seq;
  if (clients_.size() > limits_.max_clients)
    forget_oldest_clients();
}

result<edit_outcome> document::submit(const edit& req, std::uint64_t now_ms) {
  if (req.client_seq == 0)
    return make_error(errc::invalid_argument, "clientSeq must be at least 1");
  auto key = client_key(req.user_id, req.client_id);
  if (auto it = clients_.find(key); it != clients_.end()) {
    auto& c = it->second;
    if (req.client_seq <= c.seq) {
      edit_outcome dup;
      dup.duplicate = true;
      dup.rev = req.client_seq == c.seq ? c.rev : 0;
      return dup;
    }
    if (c.held_from != 0 && req.client_seq > c.held_from)
      return out_of_order(req.client_seq, c.held_from);
    if (req.client_seq == c.held_from)
      c.held_from = 0;
  }
  if (req.base_rev > rev_)
    return make_error(errc::bad_rev, "baseRev " + std::to_string(req.base_rev) + " is ahead of the document (rev "
                                       + std::to_string(rev_) + ")");
  if (req.base_rev < oldest_base())
    return make_error(errc::rev_too_old, "baseRev " + std::to_string(req.base_rev)
                                           + " is older than the history kept (from rev "
                                           + std::to_string(oldest_base()) + "); rejoin to resync");
  auto base_length = req.base_rev == rev_ ? text_.size() : entry(req.base_rev + 1)->length_before;
  if (req.op.input_length() > base_length)
    return make_error(errc::out_of_range, "the edit spans " + std::to_string(req.op.input_length())
                                            + " code points but the document had "
                                            + std::to_string(base_length) + " at rev "
                                            + std::to_string(req.base_rev));
  if (req.comment)
    return submit_comment(req, key, now_ms);
  edit_outcome out;
  auto op = req.op;
  std::vector<dropped_change> dropped;
  for (auto r = req.base_rev + 1; r <= rev_; ++r) {
    auto& earlier = *entry(r);
    transform_later(earlier.op, op, policy_, dropped);
    for (auto& d : dropped)
      out.conflicts.push_back(
        {earlier.client_id, earlier.user_id, earlier.client_seq, std::move(d.inserted), std::move(d.erased)});
    dropped.clear();
  }
  auto length_before = text_.size();
  if (auto st = apply(text_, op); !st)
    return make_error(errc::internal, "transformed edit does not fit: " + st.error().message);
  if (text_.size_bytes() > limits_.max_bytes) {
    auto undo = invert(op);
    (void) apply(text_, undo);
    return make_error(errc::document_too_large, "the edit would grow the document past its limit of "
                                                  + std::to_string(limits_.max_bytes) + " bytes");
  }
  comments_.move(op);
  ++rev_;
  history_.push_back(
    {rev_, std::move(op), req.client_id, req.user_id, req.client_seq, clock_.stamp(now_ms), length_before});
  history_bytes_ += footprint(history_.back());
  if (!req.client_id.empty())
    remember_client(key, req.client_seq, rev_);
  out.rev = rev_;
  return out;
}

result<edit_outcome> document::submit_comment(const edit& req, const std::string& key, std::uint64_t now_ms) {
  if (!req.op.is_noop())
    return make_error(errc::invalid_argument, "an edit changes the text (ops) or a comment, not both");
  auto action = *req.comment;
  // Only what the kind uses is kept (and stored, and sent to everyone).
  if (action.kind != comment_kind::open)
    action.start = action.end = 0;
  if (action.kind != comment_kind::open && action.kind != comment_kind::reply)
    action.text.clear();
  if (action.kind == comment_kind::open) {
    // Anchored where the client saw the text: moved past everything since.
    comment_thread range{0, action.start, action.end};
    auto base_length = req.base_rev == rev_ ? text_.size() : entry(req.base_rev + 1)->length_before;
    if (range.start >= range.end || range.end > base_length)
      return make_error(errc::invalid_argument, "a comment's range must be start < end <= "
                                                  + std::to_string(base_length) + " (code points of the text at "
                                                  + "baseRev " + std::to_string(req.base_rev) + ")");
    for (auto r = req.base_rev + 1; r <= rev_; ++r)
      move_thread(range, entry(r)->op);
    if (range.detached)
      return make_error(errc::invalid_argument, "the commented text was deleted meanwhile");
    action.start = range.start;
    action.end = range.end;
  }
  if (auto st = comments_.check(action, text_.size()); !st)
    return st.error();
  ++rev_;
  if (action.kind == comment_kind::open)
    action.thread = rev_;
  auto ts = clock_.stamp(now_ms);
  comments_.apply(action, rev_, req.user_id, ts);
  history_.push_back({rev_, operation{}, req.client_id, req.user_id, req.client_seq, ts, text_.size(),
                      std::make_shared<const comment_action>(std::move(action))});
  history_bytes_ += footprint(history_.back());
  if (!req.client_id.empty())
    remember_client(key, req.client_seq, rev_);
  edit_outcome out;
  out.rev = rev_;
  return out;
}

} // namespace stet
