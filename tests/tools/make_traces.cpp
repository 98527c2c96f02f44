// Writes editing histories in the editing-traces format, made from a seeded
// simulated typist, so that a clone with no public traces beside it still
// replays long, realistic histories (and a run with STET_TRACES_DIR replays
// the real ones). Each history records its end text, computed here by
// applying every patch to a plain code-point string, independently of the
// core that the tests then check against it.
// Usage: stet_make_traces OUT_DIR   (writes OUT_DIR/sequential/*.json.gz)
#include "core/utf8.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

struct style {
  const char* name;
  std::size_t patches;
  std::vector<std::u32string> words; // what the typist types, one code point per keystroke
  double paste_chance;               // of pasting a whole paragraph at once
};

std::u32string u32(const std::string& utf8) {
  std::u32string out;
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3F);
    out += cp;
    i += n;
  }
  return out;
}

std::string utf8(const std::u32string& s) {
  std::string out;
  for (char32_t cp : s)
    stet::utf8::append(out, cp);
  return out;
}

std::vector<std::u32string> words_of(std::initializer_list<const char*> list) {
  std::vector<std::u32string> out;
  for (auto* w : list)
    out.push_back(u32(w));
  return out;
}

// A typist: types words at a cursor, fixes typos with backspace, jumps
// elsewhere, selects and deletes or replaces a range, sometimes pastes.
nlohmann::json simulate(const style& st, std::uint32_t seed) {
  std::mt19937 rng{seed};
  auto chance = [&](double p) { return std::uniform_real_distribution<double>{0, 1}(rng) < p; };
  auto upto = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>{0, n}(rng); };
  std::u32string doc;
  std::size_t cursor = 0;
  nlohmann::json txns = nlohmann::json::array();
  std::size_t written = 0;
  auto patch = [&](std::size_t pos, std::size_t del, const std::u32string& ins) {
    doc.replace(pos, del, ins);
    txns.push_back({{"time", "2026-01-01T00:00:00.000Z"},
                    {"patches", nlohmann::json::array({nlohmann::json::array({pos, del, utf8(ins)})})}});
    ++written;
  };
  while (written < st.patches) {
    if (chance(0.04) && !doc.empty()) { // jump
      cursor = upto(doc.size());
    } else if (chance(0.03) && doc.size() > 8) { // select and delete, or replace
      auto from = upto(doc.size() - 1);
      auto len = 1 + upto(std::min<std::size_t>(40, doc.size() - from - 1));
      auto replacement = chance(0.5) ? st.words[upto(st.words.size() - 1)] : std::u32string{};
      patch(from, len, replacement);
      cursor = from + replacement.size();
    } else if (chance(st.paste_chance)) { // paste a paragraph
      std::u32string para;
      for (std::size_t k = 0, n = 20 + upto(60); k < n; ++k)
        para += st.words[upto(st.words.size() - 1)] + U" ";
      patch(cursor, 0, para);
      cursor += para.size();
    } else { // type a word, a typo and its fix now and then
      auto word = st.words[upto(st.words.size() - 1)] + (chance(0.1) ? U".\n" : U" ");
      for (char32_t c : word) {
        patch(cursor, 0, std::u32string(1, c));
        ++cursor;
        if (chance(0.02) && cursor > 0) {
          patch(cursor - 1, 1, {});
          --cursor;
        }
        if (written >= st.patches)
          break;
      }
    }
  }
  return {{"startContent", ""}, {"endContent", utf8(doc)}, {"txns", std::move(txns)}};
}

bool write_gz(const std::filesystem::path& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "wb6");
  if (!f)
    return false;
  bool ok = gzwrite(f, data.data(), static_cast<unsigned>(data.size())) == static_cast<int>(data.size());
  return gzclose(f) == Z_OK && ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: stet_make_traces OUT_DIR\n";
    return 2;
  }
  auto prose = words_of({"the", "edit", "stands", "when", "two", "writers", "change", "one", "line", "and",
                         "every", "client", "ends", "with", "the", "owner's", "text", "let", "it", "stand",
                         "proof", "margin", "revision", "paragraph", "ordered", "durable", "commit"});
  auto unicode = words_of({"café", "straße", "naïve", "日本語", "中文", "한국어", "😀", "👍🏽", "e\u0301",
                           "Ω", "ß", "€", "𝄞", "emoji🎉here", "ΑΒΓ", "Привет", "مرحبا", "שלום"});
  std::vector<style> styles{
    {"generated-prose", 40000, prose, 0.0},
    {"generated-unicode", 20000, unicode, 0.0},
    {"generated-paste", 15000, prose, 0.01},
    {"generated-long", 120000, prose, 0.0005},
    {"generated-mixed", 30000, [&] {
       auto all = prose;
       all.insert(all.end(), unicode.begin(), unicode.end());
       return all;
     }(), 0.002},
  };
  auto dir = std::filesystem::path{argv[1]} / "sequential";
  std::filesystem::create_directories(dir);
  std::uint32_t seed = 17;
  for (auto& st : styles) {
    auto trace = simulate(st, seed++);
    if (!stet::utf8::is_valid(trace["endContent"].get<std::string>())) {
      std::cerr << "stet_make_traces: " << st.name << " is not valid UTF-8\n";
      return 1;
    }
    if (!write_gz(dir / (std::string{st.name} + ".json.gz"), trace.dump())) {
      std::cerr << "stet_make_traces: cannot write " << (dir / st.name).string() << "\n";
      return 1;
    }
  }
  return 0;
}
