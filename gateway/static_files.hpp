// Serves the web client's built files from one folder, never outside it.
#pragma once

#include "gateway/http_util.hpp"

#include <optional>
#include <string>

namespace stet {

/// The response for GET/HEAD `req` from the files under `root`: the file, or
/// 404; nullopt when `root` is empty (no web client configured). Paths with
/// "..", backslashes, NUL or bad %-escapes get 400; anything resolving
/// outside `root` (symlinks included) is 404.
std::optional<http_util::response> serve_static(const std::string& root, const http_util::request& req);

} // namespace stet
