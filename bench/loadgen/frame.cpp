#include "bench/loadgen/frame.hpp"

#include <charconv>

namespace stet::loadgen {

namespace {

// The value of `"key":` in `text` ("..." or a bare number), searched as
// text. The load generator reads every delivered message on one core while
// the server delivers several hundred thousand a second: a JSON parser
// (nlohmann's, its SAX interface too) capped it at a third of that, so the
// benchmark would have measured the client. Frames are the server's own
// printing of protobuf's JSON mapping (json_fast_path), whose shape is
// fixed: tests/bench/frame_test.cpp reads frames the codec prints.
std::string_view value_of(std::string_view text, std::string_view key, std::size_t from = 0) {
  std::string pat;
  pat.reserve(key.size() + 3);
  pat += '"';
  pat += key;
  pat += "\":";
  auto at = text.find(pat, from);
  if (at == std::string_view::npos)
    return {};
  at += pat.size();
  if (at < text.size() && text[at] == '"') {
    auto end = text.find('"', at + 1);
    return end == std::string_view::npos ? std::string_view{} : text.substr(at + 1, end - at - 1);
  }
  auto end = text.find_first_of(",}", at);
  return text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
}

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

} // namespace

std::optional<frame> read_frame(std::string_view text) {
  // {"<kind>":{...}}
  if (text.size() < 4 || text[0] != '{' || text[1] != '"')
    return std::nullopt;
  auto end = text.find('"', 2);
  if (end == std::string_view::npos)
    return std::nullopt;
  frame out;
  out.kind = std::string{text.substr(2, end - 2)};
  out.rev = to_u64(value_of(text, "rev", end));
  out.client_seq = to_u64(value_of(text, "clientSeq", end));
  if (out.kind == "applied") {
    auto tag = value_of(text, "insert", end);
    if (tag.size() > 1 && tag[0] == 'w')
      if (auto dot = tag.find('.'); dot != std::string_view::npos)
        out.writer = to_u64(tag.substr(1, dot - 1));
  }
  return out;
}

std::string prose(std::size_t bytes, std::uint64_t seed) {
  static constexpr const char* k_words[] = {
    "the",   "of",    "and",    "to",     "in",    "is",     "that",   "for",    "it",    "as",    "was",
    "with",  "be",    "by",     "on",     "not",   "he",     "this",   "are",    "or",    "his",   "from",
    "at",    "which", "but",    "have",   "an",    "had",    "they",   "you",    "were",  "their", "one",
    "all",   "we",    "can",    "her",    "has",   "there",  "been",   "if",     "more",  "when",  "will",
    "would", "who",   "so",     "no",     "document", "edit", "server", "client", "order", "text", "change",
    "merge", "write", "commit", "network", "shared", "cursor", "revision", "history", "typing"};
  constexpr std::uint64_t n = sizeof k_words / sizeof *k_words;
  std::string out;
  out.reserve(bytes + 16);
  auto x = seed * 0x9E3779B97F4A7C15ull + 1;
  while (out.size() < bytes) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; // xorshift64
    out += k_words[x % n];
    out += ' ';
  }
  out.resize(bytes);
  return out;
}

} // namespace stet::loadgen
