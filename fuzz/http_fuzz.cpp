// libFuzzer target: the HTTP request path up to the handlers: Beast's
// parser with the server's limits, then the URL handling every route uses
// (query parameters, %-decoding, static file resolution under a root).
#include "gateway/http_util.hpp"
#include "gateway/static_files.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace {

const stet::static_site& site() {
  static const stet::static_site loaded = [] {
    auto dir = std::filesystem::temp_directory_path() / ("stet-fuzz-web-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir / "assets");
    std::ofstream{dir / "index.html"} << "<!doctype html>";
    std::ofstream{dir / "assets" / "app.js"} << "1";
    auto s = stet::static_site::load(dir.string());
    std::filesystem::remove_all(dir);
    return s;
  }();
  return loaded;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.body_limit(1024 * 1024);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done())
    return 0;
  auto& req = parser.get();
  std::string_view target{req.target().data(), req.target().size()};
  (void) stet::http_util::query_param(target, "rev");
  (void) stet::http_util::percent_decode(target);
  if (auto res = site().serve(req)) {
    auto status = res->result_int();
    if (status == 200) {
      // Whatever was served must lie inside the root.
      auto decoded = stet::http_util::percent_decode(target.substr(0, target.find('?')));
      if (!decoded || decoded->find("..") != std::string::npos)
        std::abort();
    }
  }
  return 0;
}
