// libFuzzer target: apply, compose and transform on operations built from
// the input bytes. Any divergence between the two sides of a transform, or
// between compose and sequential apply, aborts (a found bug).
#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "core/transform.hpp"
#include "core/utf8.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

struct reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t next() {
    if (n == 0)
      return 0;
    --n;
    return *p++;
  }
};

const char* const k_pieces[] = {"a", "b", "\xC3\xA9", "\xF0\x9F\x98\x80", "\n", "xyz"};

std::string text(reader& r, std::size_t count) {
  std::string s;
  for (std::size_t i = 0; i < count; ++i)
    s += k_pieces[r.next() % 6];
  return s;
}

stet::operation make_op(reader& r, std::size_t doc_length) {
  stet::operation op;
  std::size_t pos = 0;
  while (pos < doc_length && r.n > 0) {
    auto b = r.next();
    auto len = 1 + (b >> 2) % 4;
    switch (b & 3) {
      case 0: {
        auto n = std::min<std::size_t>(len, doc_length - pos);
        op.retain(n);
        pos += n;
        break;
      }
      case 1: op.insert(text(r, len)); break;
      case 2: {
        auto n = std::min<std::size_t>(len, doc_length - pos);
        op.erase(n);
        pos += n;
        break;
      }
      default: return op;
    }
  }
  return op;
}

stet::operation committed(const std::string& doc, stet::operation op) {
  stet::text_buffer buf{doc};
  if (!stet::apply(buf, op))
    std::abort();
  return op;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{data, size};
  auto doc = text(r, r.next() % 16);
  auto n = stet::utf8::length(doc);
  auto a = committed(doc, make_op(r, n));
  auto b = committed(doc, make_op(r, n));
  auto after_a = stet::apply_to_string(doc, a);
  // compose agrees with applying in sequence
  auto c = make_op(r, stet::utf8::length(after_a));
  if (stet::apply_to_string(doc, stet::compose(a, c)) != stet::apply_to_string(after_a, c))
    std::abort();
  for (auto policy : {stet::conflict_policy::lww, stet::conflict_policy::merge}) {
    auto t = stet::transform(a, b, policy);
    auto left = stet::apply_to_string(after_a, t.later);
    auto right = stet::apply_to_string(stet::apply_to_string(doc, b), t.earlier);
    if (left != right)
      std::abort();
    std::vector<stet::dropped_change> dropped;
    auto later = b;
    stet::transform_later(a, later, policy, dropped);
    if (!(later == t.later) || dropped.size() != t.dropped.size())
      std::abort();
    // Whatever path it took, the result applies after `a`.
    if (stet::apply_to_string(after_a, later) != left)
      std::abort();
  }
  // invert undoes
  stet::text_buffer buf{doc};
  auto op = a;
  if (!stet::apply(buf, op))
    std::abort();
  auto inv = stet::invert(op);
  if (!stet::apply(buf, inv) || buf.str() != doc)
    std::abort();
  return 0;
}
