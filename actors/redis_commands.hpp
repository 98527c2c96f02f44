// What every Redis client of the bus shares: a reply copied out of hiredis,
// where a server is, and the one operation membership needs (a command that
// is answered later, on the client's own thread).
#pragma once

#include "core/error.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

/// A Redis reply, copied out of hiredis (which frees its own after the callback).
struct redis_reply {
  bool ok = false;    // false: no reply (disconnected) or a Redis error
  std::string error{}; // why, when !ok
  long long integer = 0;
  std::string str{};  // string, status or error text
  std::vector<std::string> elements{}; // array replies (one level)
  bool nil = false;
};

/// Copies a hiredis `redisReply*` (null: the connection was lost).
redis_reply copy_reply(const void* hiredis_reply);

/// Where a Redis server is and who to log in as (Redis 6 ACL user, or only
/// a password for `requirepass`).
struct redis_endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username{};
  std::string password{};

  std::string address() const {
    return host + ":" + std::to_string(port);
  }
};

/// Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or HOST:PORT);
/// user and password are percent-decoded. Errors: invalid_argument.
result<redis_endpoint> parse_redis_url(std::string_view url);

/// Parses "HOST:PORT,HOST:PORT,..." (sentinels, cluster seeds). Errors:
/// invalid_argument.
result<std::vector<redis_endpoint>> parse_redis_hosts(std::string_view list);

class redis_commands {
public:
  using reply_handler = std::function<void(const redis_reply&)>;
  virtual ~redis_commands() = default;
  /// Sends a command; `done` (optional) gets the reply, or !ok when it
  /// cannot be sent or the connection drops first. Runs on, and answers on,
  /// the client's own thread. In a Redis Cluster the command goes to the
  /// shard that owns the slot of `args[1]`.
  virtual void command(const std::vector<std::string>& args, reply_handler done = {}) = 0;
};

} // namespace stet
