#include "gateway/static_files.hpp"

#include <boost/beast/http/field.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace stet {

namespace http = boost::beast::http;
namespace fs = std::filesystem;

namespace {

std::string_view mime_type(const fs::path& p) {
  auto ext = p.extension().string();
  if (ext == ".html")
    return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs")
    return "text/javascript; charset=utf-8";
  if (ext == ".css")
    return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map")
    return "application/json";
  if (ext == ".svg")
    return "image/svg+xml";
  if (ext == ".png")
    return "image/png";
  if (ext == ".ico")
    return "image/x-icon";
  if (ext == ".woff2")
    return "font/woff2";
  if (ext == ".ttf")
    return "font/ttf";
  if (ext == ".wasm")
    return "application/wasm";
  return "application/octet-stream";
}

} // namespace

std::optional<http_util::response> serve_static(const std::string& root, const http_util::request& req) {
  if (root.empty())
    return std::nullopt;
  std::string_view target{req.target().data(), req.target().size()};
  target = target.substr(0, target.find('?'));
  auto decoded = http_util::percent_decode(target);
  if (!decoded || decoded->empty() || decoded->front() != '/' || decoded->find('\0') != std::string::npos
      || decoded->find('\\') != std::string::npos)
    return http_util::error(http::status::bad_request, errc::invalid_argument, "malformed path", req);
  for (std::size_t pos = 0; pos < decoded->size();) {
    auto next = decoded->find('/', pos + 1);
    auto segment = decoded->substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    if (segment == "..")
      return http_util::error(http::status::bad_request, errc::invalid_argument, "\"..\" is not allowed in paths",
                              req);
    if (next == std::string::npos)
      break;
    pos = next;
  }
  std::error_code ec;
  auto base = fs::weakly_canonical(root, ec);
  auto rel = decoded->substr(1);
  if (rel.empty() || decoded->back() == '/')
    rel += "index.html";
  auto file = fs::weakly_canonical(base / rel, ec);
  auto inside = !ec && file.string().rfind(base.string() + "/", 0) == 0;
  if (!inside || !fs::is_regular_file(file, ec))
    return http_util::error(http::status::not_found, errc::invalid_argument, "no such file", req);
  std::ifstream in{file, std::ios::binary};
  std::ostringstream body;
  body << in.rdbuf();
  http_util::response res{http::status::ok, req.version()};
  res.set(http::field::content_type, mime_type(file));
  res.set(http::field::cache_control, file.filename() == "index.html" ? "no-cache" : "public, max-age=3600");
  res.set("Content-Security-Policy",
          "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:");
  res.keep_alive(req.keep_alive());
  if (req.method() != http::verb::head)
    res.body() = body.str();
  http_util::secure(res);
  res.prepare_payload();
  return res;
}

} // namespace stet
