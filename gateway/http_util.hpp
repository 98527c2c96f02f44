// Small HTTP helpers shared by the REST API, static files and sessions.
#pragma once

#include "core/error.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace stet::http_util {

using request = boost::beast::http::request<boost::beast::http::string_body>;
using response = boost::beast::http::response<boost::beast::http::string_body>;

/// Headers every response carries (no sniffing, no framing, no referrer).
void secure(response& res);

response json(boost::beast::http::status status, const nlohmann::json& body, const request& req);
response error(const stet::error& err, const request& req);
response error(boost::beast::http::status status, errc code, const std::string& message, const request& req);

/// The HTTP status that matches a stet error code.
boost::beast::http::status status_of(errc code);

/// %XX-decoding of one path segment; nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view s);

/// The value of `name` in the query string of `target`, if present.
std::optional<std::string> query_param(std::string_view target, std::string_view name);

} // namespace stet::http_util
