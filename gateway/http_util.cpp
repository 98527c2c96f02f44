#include "gateway/http_util.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
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
  auto checked = boost::urls::make_pct_string_view(s);
  if (!checked)
    return std::nullopt;
  return checked->decode();
}

std::optional<std::string> query_param(std::string_view target, std::string_view name) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url)
    return std::nullopt;
  auto params = url->params();
  auto it = params.find(name);
  if (it == params.end())
    return std::nullopt;
  return std::string{(*it).value};
}

} // namespace stet::http_util
