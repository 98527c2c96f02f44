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

gateway_context::queued_bytes gateway_context::queue_budget(const std::string& ip) {
  std::lock_guard<std::mutex> guard{connections_mutex_};
  auto& slot = queued_per_ip_[ip];
  auto shared = slot.lock();
  if (!shared) {
    shared = std::make_shared<std::atomic<std::size_t>>(0);
    slot = shared;
  }
  // Forget addresses whose sessions all ended, now and then.
  if (queued_per_ip_.size() > 2 * connections_.size() + 1024)
    std::erase_if(queued_per_ip_, [](auto& e) { return e.second.expired(); });
  return shared;
}

const storage_api& gateway_context::store_for(const std::string& key) const {
  return stores[storage_index(key, stores.size())];
}

} // namespace stet
