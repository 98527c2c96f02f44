// Finds the Redis master through Redis Sentinel and follows its failovers.
// Before every (re)connect a redis_connection asks the sentinels (the first
// that answers) where the master is; each sentinel is also listened to for
// +switch-master, on which every connection to another address drops and
// reconnects to the new master at once. Everything runs on the io_context's
// single thread, as redis_connection does.
#pragma once

#include "actors/redis_connection.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace stet {

struct sentinel_config {
  std::vector<redis_endpoint> sentinels;
  /// The name the sentinels monitor the master under.
  std::string master;
};

class redis_sentinel : public std::enable_shared_from_this<redis_sentinel> {
public:
  redis_sentinel(boost::asio::io_context& io, sentinel_config config);

  void start();
  void stop();

  /// Asks the sentinels in turn; `done` gets the master's address, or
  /// nullopt when no sentinel that is reachable knows it.
  void resolve(std::function<void(std::optional<redis_endpoint>)> done);
  /// `h` runs whenever the sentinels announce a new master.
  void on_switch(std::function<void(const redis_endpoint& master)> h) {
    on_switch_.push_back(std::move(h));
  }

private:
  void ask(std::size_t i, std::shared_ptr<std::function<void(std::optional<redis_endpoint>)>> done);
  void heard(const std::string& payload);

  boost::asio::io_context& io_;
  sentinel_config config_;
  std::vector<std::shared_ptr<redis_connection>> askers_;   // commands, one per sentinel
  std::vector<std::shared_ptr<redis_connection>> watchers_; // +switch-master, one per sentinel
  std::vector<std::function<void(const redis_endpoint&)>> on_switch_;
  std::optional<redis_endpoint> last_switch_;
};

} // namespace stet
