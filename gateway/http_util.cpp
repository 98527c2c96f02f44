#include "gateway/http_util.hpp"

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>

namespace stet::http_util {

namespace http = boost::beast::http;

void secure(response& res) {
  res.set(http::field::server, "stet");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  res.set("Cross-Origin-Resource-Policy", "same-origin");
  if (res.find(http::field::cache_control) == res.end())
    res.set(http::field::cache_control, "no-store");
}

response json(http::status status, const nlohmann::json& body, const request& req) {
  response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  if (status != http::status::no_content)
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  secure(res);
  res.prepare_payload();
  return res;
}

response error(http::status status, errc code, const std::string& message, const request& req) {
  return json(status, {{"error", {{"code", std::string{to_string(code)}}, {"message", message}}}}, req);
}

response error(const stet::error& err, const request& req) {
  return error(status_of(err.code), err.code, err.message, req);
}

http::status status_of(errc code) {
  switch (code) {
    case errc::unknown_document: return http::status::not_found;
    case errc::bad_message:
    case errc::invalid_argument:
    case errc::invalid_utf8:
    case errc::nul_character:
    case errc::bad_rev: return http::status::bad_request;
    case errc::rev_too_old: return http::status::gone;
    case errc::unauthorized:
    case errc::token_expired: return http::status::unauthorized;
    case errc::forbidden: return http::status::forbidden;
    case errc::rate_limited: return http::status::too_many_requests;
    case errc::frame_too_large: return http::status::payload_too_large;
    case errc::storage_unavailable:
    case errc::overloaded: return http::status::service_unavailable;
    default: return http::status::internal_server_error;
  }
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9')
        return c - '0';
      if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
      if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]);
    int lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return std::nullopt;
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (amp == std::string_view::npos)
      break;
    rest = rest.substr(amp + 1);
  }
  return std::nullopt;
}

} // namespace stet::http_util
