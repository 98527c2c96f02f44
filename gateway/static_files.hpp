// The web client's built files, read once at start-up and served from
// memory: no file I/O on the I/O threads, a gzip copy made once, an ETag per
// file (If-None-Match answers 304), and no body for HEAD.
#pragma once

#include "gateway/http_util.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace stet {

class static_site {
public:
  /// Largest total size read from a web root.
  static constexpr std::size_t k_max_bytes = 256 * 1024 * 1024;

  static_site() = default;

  /// Every regular file under `root` (symlinks leading outside it are
  /// skipped). An empty `root`, or one that does not exist, serves nothing.
  static static_site load(const std::string& root);

  bool empty() const noexcept {
    return files_.empty();
  }
  std::size_t size() const noexcept {
    return files_.size();
  }

  /// The response for GET/HEAD `req`: the file, 304, or 404; nullopt when
  /// nothing is served. Paths with "..", backslashes, NUL or bad %-escapes
  /// get 400. Thread-safe (read only).
  std::optional<http_util::response> serve(const http_util::request& req) const;

private:
  struct file {
    std::shared_ptr<const std::string> body;
    std::shared_ptr<const std::string> gzipped; // null when gzip does not make it smaller
    std::string content_type;
    std::string etag;
    std::string cache_control;
  };
  std::map<std::string, file, std::less<>> files_; // "/index.html" -> file
};

} // namespace stet
