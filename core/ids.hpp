// Rules for identifiers that travel in URLs and frames.
#pragma once

#include <string_view>

namespace stet {

/// Document ids: 1-128 characters of A-Z a-z 0-9 _ - . : (safe in URLs,
/// file names and Redis channel names alike).
inline bool valid_doc_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'
              || c == '.' || c == ':';
    if (!ok)
      return false;
  }
  return true;
}

} // namespace stet
