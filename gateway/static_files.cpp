#include "gateway/static_files.hpp"

#include <boost/beast/http/field.hpp>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
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

// FNV-1a, 64 bits: a validator for a file that never changes while served,
// not a security property.
std::string etag_of(std::string_view body) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[24];
  std::snprintf(out, sizeof out, "\"%016llx\"", static_cast<unsigned long long>(h));
  return out;
}

std::shared_ptr<const std::string> gzip(const std::string& body) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return nullptr;
  std::string out(deflateBound(&z, body.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  auto rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END || out.size() + 64 >= body.size())
    return nullptr;
  return std::make_shared<const std::string>(std::move(out));
}

// Build outputs whose name carries their content hash ("font-4F2A9C1B.ttf")
// never change under that name; everything else is revalidated each time.
bool hashed_name(const std::string& name) {
  static const std::regex hashed{R"(.*-[A-Z0-9]{8}\.[a-z0-9]+$)"};
  return std::regex_match(name, hashed);
}

bool accepts_gzip(const http_util::request& req) {
  auto ae = req[http::field::accept_encoding];
  return std::string_view{ae.data(), ae.size()}.find("gzip") != std::string_view::npos;
}

} // namespace

static_site static_site::load(const std::string& root) {
  static_site site;
  std::error_code ec;
  if (root.empty() || !fs::is_directory(root, ec))
    return site;
  auto base = fs::canonical(root, ec);
  if (ec)
    return site;
  std::size_t total = 0;
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    auto real = fs::weakly_canonical(it->path(), ec);
    if (ec || !fs::is_regular_file(real, ec) || real.string().rfind(base.string() + "/", 0) != 0)
      continue;
    std::ifstream in{real, std::ios::binary};
    std::ostringstream body;
    body << in.rdbuf();
    auto bytes = body.str();
    total += bytes.size();
    if (total > k_max_bytes)
      break;
    auto rel = "/" + fs::relative(it->path(), base, ec).generic_string();
    file f;
    f.content_type = std::string{mime_type(real)};
    f.etag = etag_of(bytes);
    f.cache_control = hashed_name(real.filename().string()) ? "public, max-age=31536000, immutable" : "no-cache";
    f.gzipped = gzip(bytes);
    f.body = std::make_shared<const std::string>(std::move(bytes));
    site.files_.emplace(std::move(rel), std::move(f));
  }
  return site;
}

std::optional<http_util::response> static_site::serve(const http_util::request& req) const {
  if (files_.empty())
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
  auto path = *decoded;
  if (path.back() == '/')
    path += "index.html";
  auto it = files_.find(path);
  if (it == files_.end())
    return http_util::error(http::status::not_found, errc::invalid_argument, "no such file", req);
  auto& f = it->second;
  bool zipped = f.gzipped && accepts_gzip(req);
  auto etag = zipped ? f.etag.substr(0, f.etag.size() - 1) + "-gz\"" : f.etag;
  http_util::response res{http::status::ok, req.version()};
  auto inm = req[http::field::if_none_match];
  if (!inm.empty() && std::string_view{inm.data(), inm.size()}.find(etag) != std::string_view::npos)
    res.result(http::status::not_modified);
  res.set(http::field::content_type, f.content_type);
  res.set(http::field::cache_control, f.cache_control);
  res.set(http::field::etag, etag);
  res.set(http::field::vary, "Accept-Encoding");
  if (zipped)
    res.set(http::field::content_encoding, "gzip");
  res.set("Content-Security-Policy",
          "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
          "worker-src 'self' blob:; font-src 'self' data:; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'");
  res.keep_alive(req.keep_alive());
  auto& body = zipped ? *f.gzipped : *f.body;
  // HEAD and 304 carry no body; HEAD still says how long it would be.
  if (res.result() == http::status::ok && req.method() != http::verb::head) {
    res.body() = body;
    res.prepare_payload();
  } else if (res.result() == http::status::ok) {
    res.content_length(body.size());
  }
  http_util::secure(res);
  return res;
}

} // namespace stet
