// Implementation: an implicit treap whose nodes hold chunks of at most
// k_max_chunk bytes, with subtree sums of code points and bytes. Small edits
// land inside an existing chunk along one root-to-leaf path; larger ones split
// the treap at the edit point and merge the pieces back.
#include "core/text_buffer.hpp"

#include "core/utf8.hpp"

#include <cstdint>
#include <utility>

namespace stet {

namespace {

constexpr std::size_t k_max_chunk = 512;

std::uint32_t next_priority() {
  // xorshift: cheap, deterministic per thread, good enough for treap balance.
  thread_local std::uint32_t state = 2463534242u;
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

} // namespace

struct text_buffer::node {
  std::string chunk;
  std::size_t chunk_cps = 0;
  std::size_t sum_cps = 0;
  std::size_t sum_bytes = 0;
  std::uint32_t priority = next_priority();
  std::unique_ptr<node> left;
  std::unique_ptr<node> right;

  node(std::string text, std::size_t cps) : chunk(std::move(text)), chunk_cps(cps) {
    update();
  }

  node(const node& other)
    : chunk(other.chunk),
      chunk_cps(other.chunk_cps),
      sum_cps(other.sum_cps),
      sum_bytes(other.sum_bytes),
      priority(other.priority),
      left(other.left ? std::make_unique<node>(*other.left) : nullptr),
      right(other.right ? std::make_unique<node>(*other.right) : nullptr) {
  }

  void update() {
    sum_cps = chunk_cps + (left ? left->sum_cps : 0) + (right ? right->sum_cps : 0);
    sum_bytes = chunk.size() + (left ? left->sum_bytes : 0) + (right ? right->sum_bytes : 0);
  }
};

namespace {

using node = text_buffer::node;
using node_ptr = std::unique_ptr<node>;

std::size_t cps_of(const node_ptr& t) {
  return t ? t->sum_cps : 0;
}

// The byte offset of code point `cps` in t's chunk. Most text is ASCII,
// where the two are equal and no scan is needed (the scan was a third of
// the automerge-paper replay).
std::size_t byte_in_chunk(const node& t, std::size_t cps) {
  return t.chunk.size() == t.chunk_cps ? cps : utf8::byte_offset(t.chunk, cps);
}

node_ptr merge(node_ptr a, node_ptr b) {
  if (!a)
    return b;
  if (!b)
    return a;
  if (a->priority >= b->priority) {
    a->right = merge(std::move(a->right), std::move(b));
    a->update();
    return a;
  }
  b->left = merge(std::move(a), std::move(b->left));
  b->update();
  return b;
}

// Splits `t` into the first `pos` code points and the rest, cutting a chunk in
// two when `pos` falls inside it.
std::pair<node_ptr, node_ptr> split(node_ptr t, std::size_t pos) {
  if (!t)
    return {};
  auto left_cps = cps_of(t->left);
  if (pos <= left_cps) {
    auto [a, b] = split(std::move(t->left), pos);
    t->left = std::move(b);
    t->update();
    return {std::move(a), std::move(t)};
  }
  if (pos >= left_cps + t->chunk_cps) {
    auto [a, b] = split(std::move(t->right), pos - left_cps - t->chunk_cps);
    t->right = std::move(a);
    t->update();
    return {std::move(t), std::move(b)};
  }
  auto offset = pos - left_cps;
  auto byte = byte_in_chunk(*t, offset);
  auto tail = std::make_unique<node>(t->chunk.substr(byte), t->chunk_cps - offset);
  t->chunk.resize(byte);
  t->chunk_cps = offset;
  auto right = std::move(t->right);
  t->update();
  return {std::move(t), merge(std::move(tail), std::move(right))};
}

// Builds a treap from `text`, cut into chunks on code point boundaries.
node_ptr build(std::string_view text) {
  node_ptr result;
  while (!text.empty()) {
    auto cut = std::min(text.size(), k_max_chunk / 2);
    while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      ++cut;
    auto piece = text.substr(0, cut);
    result = merge(std::move(result), std::make_unique<node>(std::string{piece}, utf8::length(piece)));
    text.remove_prefix(cut);
  }
  return result;
}

// Inserts into the chunk that holds `pos` when it has room. Returns false
// (changing nothing) when the chunk would overflow.
bool insert_in_place(node* t, std::size_t pos, std::string_view text, std::size_t cps) {
  if (!t)
    return false;
  auto left_cps = cps_of(t->left);
  bool done;
  if (pos < left_cps) {
    done = insert_in_place(t->left.get(), pos, text, cps);
  } else if (pos <= left_cps + t->chunk_cps) {
    if (t->chunk.size() + text.size() > k_max_chunk)
      return false;
    t->chunk.insert(byte_in_chunk(*t, pos - left_cps), text);
    t->chunk_cps += cps;
    done = true;
  } else {
    done = insert_in_place(t->right.get(), pos - left_cps - t->chunk_cps, text, cps);
  }
  if (done)
    t->update();
  return done;
}

// Erases inside a single chunk when the range does not reach its ends.
bool erase_in_place(node* t, std::size_t pos, std::size_t count) {
  if (!t)
    return false;
  auto left_cps = cps_of(t->left);
  bool done;
  if (pos < left_cps) {
    done = erase_in_place(t->left.get(), pos, count);
  } else if (pos < left_cps + t->chunk_cps) {
    auto offset = pos - left_cps;
    if (offset + count >= t->chunk_cps)
      return false;
    auto first = byte_in_chunk(*t, offset);
    auto len = byte_in_chunk(*t, offset + count) - first;
    t->chunk.erase(first, len);
    t->chunk_cps -= count;
    done = true;
  } else {
    done = erase_in_place(t->right.get(), pos - left_cps - t->chunk_cps, count);
  }
  if (done)
    t->update();
  return done;
}

void append_range(const node* t, std::size_t pos, std::size_t count, std::string& out) {
  if (!t || count == 0)
    return;
  auto left_cps = cps_of(t->left);
  if (pos < left_cps) {
    auto take = std::min(count, left_cps - pos);
    append_range(t->left.get(), pos, take, out);
    pos += take;
    count -= take;
  }
  if (count == 0)
    return;
  pos -= left_cps;
  if (pos < t->chunk_cps) {
    auto take = std::min(count, t->chunk_cps - pos);
    if (pos == 0 && take == t->chunk_cps)
      out += t->chunk; // the whole chunk: no need to find code point offsets
    else
      out.append(t->chunk, byte_in_chunk(*t, pos), byte_in_chunk(*t, pos + take) - byte_in_chunk(*t, pos));
    pos += take;
    count -= take;
  }
  if (count == 0)
    return;
  append_range(t->right.get(), pos - t->chunk_cps, count, out);
}

} // namespace

text_buffer::text_buffer() = default;

text_buffer::text_buffer(std::string_view utf8) : root_(build(utf8)) {
}

text_buffer::text_buffer(const text_buffer& other)
  : root_(other.root_ ? std::make_unique<node>(*other.root_) : nullptr) {
}

text_buffer& text_buffer::operator=(const text_buffer& other) {
  if (this != &other)
    root_ = other.root_ ? std::make_unique<node>(*other.root_) : nullptr;
  return *this;
}

text_buffer::text_buffer(text_buffer&&) noexcept = default;
text_buffer& text_buffer::operator=(text_buffer&&) noexcept = default;
text_buffer::~text_buffer() = default;

std::size_t text_buffer::size() const noexcept {
  return root_ ? root_->sum_cps : 0;
}

std::size_t text_buffer::size_bytes() const noexcept {
  return root_ ? root_->sum_bytes : 0;
}

std::string text_buffer::substr(std::size_t pos, std::size_t count) const {
  std::string out;
  if (pos < size())
    append_range(root_.get(), pos, std::min(count, size() - pos), out);
  return out;
}

std::string text_buffer::str() const {
  std::string out;
  out.reserve(size_bytes());
  append_range(root_.get(), 0, size(), out);
  return out;
}

void text_buffer::insert(std::size_t pos, std::string_view utf8) {
  if (utf8.empty())
    return;
  if (utf8.size() <= k_max_chunk / 2 && insert_in_place(root_.get(), pos, utf8, utf8::length(utf8)))
    return;
  auto [left, right] = split(std::move(root_), pos);
  root_ = merge(merge(std::move(left), build(utf8)), std::move(right));
}

void text_buffer::erase(std::size_t pos, std::size_t count) {
  if (count == 0)
    return;
  if (erase_in_place(root_.get(), pos, count))
    return;
  auto [left, rest] = split(std::move(root_), pos);
  auto [gone, right] = split(std::move(rest), count);
  root_ = merge(std::move(left), std::move(right));
}

} // namespace stet
