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

// The middle replaced whole: its new text, then the old one erased.
operation replace_middle(std::size_t prefix, const std::vector<char32_t>& old_middle,
                         const std::vector<char32_t>& new_middle) {
  operation op;
  op.retain(prefix);
  std::string inserted, erased;
  for (auto cp : new_middle)
    utf8::append(inserted, cp);
  for (auto cp : old_middle)
    utf8::append(erased, cp);
  op.insert(inserted, new_middle.size());
  op.erase(old_middle.size(), erased);
  return op;
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
  if (old_middle.size() + new_middle.size() > k_max_diffed_code_points || old_middle.empty() || new_middle.empty())
    return replace_middle(prefix, old_middle, new_middle);
  dtl::Diff<char32_t, std::vector<char32_t>> diff{old_middle, new_middle};
  diff.compose();
  operation op;
  op.retain(prefix);
  std::string run; // the insert or erase being gathered
  std::size_t run_length = 0;
  auto run_kind = dtl::SES_COMMON;
  auto flush = [&] {
    if (run_kind == dtl::SES_ADD)
      op.insert(run, run_length);
    else if (run_kind == dtl::SES_DELETE)
      op.erase(run_length, run);
    run.clear();
    run_length = 0;
  };
  for (auto& [cp, info] : diff.getSes().getSequence()) {
    if (info.type != run_kind) {
      flush();
      run_kind = info.type;
    }
    if (info.type == dtl::SES_COMMON) {
      op.retain(1);
    } else {
      utf8::append(run, cp);
      ++run_length;
    }
  }
  flush();
  if (op.components().size() > k_max_diff_components)
    return replace_middle(prefix, old_middle, new_middle);
  return op;
}

} // namespace stet
