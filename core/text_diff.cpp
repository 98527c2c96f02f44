#include "core/text_diff.hpp"

#include "core/utf8.hpp"

#include <dtl/dtl.hpp>

#include <string>
#include <vector>

namespace stet {

namespace {

// The code points of valid UTF-8, one element each.
std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    auto lead = static_cast<unsigned char>(s[i]);
    std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t cp = n == 1 ? lead : lead & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}

} // namespace

operation diff_texts(std::string_view before, std::string_view after) {
  auto a = code_points(before);
  auto b = code_points(after);
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix])
    ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix
         && a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  std::vector<char32_t> old_middle(a.begin() + static_cast<std::ptrdiff_t>(prefix),
                                   a.end() - static_cast<std::ptrdiff_t>(suffix));
  std::vector<char32_t> new_middle(b.begin() + static_cast<std::ptrdiff_t>(prefix),
                                   b.end() - static_cast<std::ptrdiff_t>(suffix));
  operation op;
  op.retain(prefix);
  std::string inserted;
  std::size_t insert_length = 0;
  auto flush_insert = [&] {
    if (insert_length)
      op.insert(inserted, insert_length);
    inserted.clear();
    insert_length = 0;
  };
  if (old_middle.size() + new_middle.size() > k_max_diffed_code_points || old_middle.empty()
      || new_middle.empty()) {
    for (auto cp : new_middle)
      utf8::append(inserted, cp);
    insert_length = new_middle.size();
    flush_insert();
    op.erase(old_middle.size(), utf8::substr(before, prefix, old_middle.size()));
    return op;
  }
  dtl::Diff<char32_t, std::vector<char32_t>> diff{old_middle, new_middle};
  diff.compose();
  std::size_t position = prefix; // in `before`, code points
  for (auto& [cp, info] : diff.getSes().getSequence()) {
    switch (info.type) {
      case dtl::SES_COMMON:
        flush_insert();
        op.retain(1);
        ++position;
        break;
      case dtl::SES_ADD:
        utf8::append(inserted, cp);
        ++insert_length;
        break;
      case dtl::SES_DELETE:
        flush_insert();
        op.erase(1, utf8::substr(before, position, 1));
        ++position;
        break;
    }
  }
  flush_insert();
  return op;
}

} // namespace stet
