#include "gateway/gateway_context.hpp"

#include "actors/messages.hpp"
#include "metrics/metrics.hpp"

namespace stet {

bool gateway_context::open_connection(const std::string& ip, bool limited) {
  std::lock_guard<std::mutex> guard{connections_mutex_};
  auto& n = connections_[ip];
  if (limited && n >= limits.max_connections_per_ip) {
    metrics::get().rate_limited("connections");
    return false;
  }
  ++n;
  metrics::get().tcp_connections.Increment();
  return true;
}

void gateway_context::close_connection(const std::string& ip) {
  std::lock_guard<std::mutex> guard{connections_mutex_};
  if (auto it = connections_.find(ip); it != connections_.end() && --it->second == 0)
    connections_.erase(it);
  metrics::get().tcp_connections.Decrement();
}

const caf::actor& gateway_context::store_for(const std::string& key) const {
  return stores[storage_index(key, stores.size())];
}

} // namespace stet
