#include "gateway/gateway_context.hpp"

#include "actors/messages.hpp"

namespace stet {

const caf::actor& gateway_context::store_for(const std::string& key) const {
  return stores[storage_index(key, stores.size())];
}

} // namespace stet
