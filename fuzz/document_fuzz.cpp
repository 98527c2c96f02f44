// libFuzzer target: a document ordering edits from several clients, each
// made against a revision the client had seen (stale ones transformed),
// under either policy, with resends. It aborts when the document breaks
// its contract: an accepted edit that is not the next revision, a resend
// applied twice, a past revision it cannot rebuild, or a restore from its
// own log that ends with another text.
#include "core/document.hpp"
#include "core/utf8.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

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

stet::operation make_op(reader& r, std::size_t length) {
  stet::operation op;
  std::size_t pos = 0;
  for (int parts = r.next() % 4 + 1; parts > 0 && r.n > 0; --parts) {
    auto b = r.next();
    auto len = 1 + (b >> 2) % 4;
    switch (b & 3) {
      case 0: {
        auto n = std::min<std::size_t>(len, length - pos);
        op.retain(n);
        pos += n;
        break;
      }
      case 2: {
        auto n = std::min<std::size_t>(len, length - pos);
        op.erase(n);
        pos += n;
        break;
      }
      default: op.insert(k_pieces[b % 6]);
    }
  }
  return op;
}

void check(bool ok) {
  if (!ok)
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader r{data, size};
  auto policy = r.next() % 2 ? stet::conflict_policy::merge : stet::conflict_policy::lww;
  stet::document_limits limits;
  limits.history = 8 + r.next() % 8; // small, so rev_too_old is reached too
  limits.history_min = 2;
  stet::document doc{"d", policy, limits, "start"};
  std::vector<std::string> texts{doc.text().str()}; // the text at each revision
  std::uint64_t seqs[3] = {0, 0, 0};
  std::uint64_t now = 1000;
  while (r.n > 0) {
    auto who = r.next() % 3;
    std::uint64_t back = r.next() % 6;
    auto base = doc.rev() >= back ? doc.rev() - back : 0;
    stet::edit e{"c" + std::to_string(who), who % 2, 0, base, make_op(r, stet::utf8::length(texts[base]))};
    bool resend = r.next() % 8 == 0 && seqs[who] > 0;
    e.client_seq = resend ? seqs[who] : seqs[who] + 1;
    auto rev_before = doc.rev();
    auto out = doc.submit(e, now += r.next());
    if (!out) {
      check(doc.rev() == rev_before && doc.text().str() == texts.back());
      continue;
    }
    if (out->duplicate) {
      check(resend && doc.rev() == rev_before);
      continue;
    }
    check(!resend && out->rev == rev_before + 1 && doc.rev() == out->rev);
    seqs[who] = e.client_seq;
    texts.push_back(doc.text().str());
    // The history rebuilds every revision it still keeps.
    for (auto rev = doc.oldest_base(); rev <= doc.rev(); ++rev)
      check(doc.text_at(rev) == texts[rev]);
    if (r.next() % 4 == 0)
      doc.mark_durable(doc.rev(), now);
  }
  // Restored from a snapshot at its oldest kept base and the log after it,
  // the document has the same text and recognises the same resends.
  stet::stored_document stored{"d", policy, doc.text_at(doc.oldest_base()), doc.oldest_base(), 0, {}, {}};
  for (auto rev = doc.oldest_base() + 1; rev <= doc.rev(); ++rev)
    stored.log.push_back(*doc.entry(rev));
  auto restored = stet::document::restore(stored, limits);
  check(restored && restored->text().str() == doc.text().str() && restored->rev() == doc.rev());
  return 0;
}
