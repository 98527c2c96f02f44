// The REST API: accounts, documents, sharing and history. Requests are
// parsed and checked on the calling (Asio) thread; storage work runs as jobs
// on the storage actors and password hashing on the crypto pool, so no Asio
// or CAF scheduler thread ever blocks.
#pragma once

#include "gateway/gateway_context.hpp"
#include "gateway/http_util.hpp"

#include <functional>

namespace stet::api {

using reply = std::function<void(http_util::response)>;

/// True when `target` belongs to the API (/api/...).
bool handles(std::string_view target);

/// Answers `req` exactly once through `done`, from any thread. `client_ip`
/// keys the login rate limit.
void handle(gateway_context& ctx, http_util::request req, const std::string& client_ip, reply done);

} // namespace stet::api
