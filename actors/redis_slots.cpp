#include "actors/redis_slots.hpp"

#include <cctype>
#include <charconv>

namespace stet {

namespace {

std::vector<std::string_view> split(std::string_view s, char by) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    auto at = s.find(by);
    auto part = s.substr(0, at);
    if (!part.empty())
      out.push_back(part);
    if (at == std::string_view::npos)
      break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::optional<int> number(std::string_view s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

// "host:port" (IPv6 hosts have colons of their own: the port follows the last).
std::optional<redis_endpoint> host_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  auto port = number(s.substr(colon + 1));
  if (!port || *port <= 0 || *port > 65535)
    return std::nullopt;
  redis_endpoint at;
  at.host = std::string{s.substr(0, colon)};
  at.port = *port;
  // A host name or an address, nothing a URL or a list could hide in.
  for (unsigned char c : at.host)
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_' || c == '[' || c == ']'))
      return std::nullopt;
  return at;
}

} // namespace

std::uint16_t redis_crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (unsigned char c : bytes) {
    crc ^= static_cast<std::uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

int redis_key_slot(std::string_view key) noexcept {
  if (auto open = key.find('{'); open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return redis_crc16(key) % k_redis_slots;
}

bool redis_slot_map::complete() const {
  for (auto& o : owner)
    if (o.empty())
      return false;
  return true;
}

std::set<std::string> redis_slot_map::masters() const {
  std::set<std::string> out;
  for (auto& o : owner)
    if (!o.empty())
      out.insert(o);
  return out;
}

result<redis_slot_map> parse_cluster_nodes(std::string_view text, std::string_view asked_host) {
  redis_slot_map map;
  auto lines = split(text, '\n');
  if (lines.size() > k_max_cluster_nodes)
    return make_error(errc::invalid_argument, "CLUSTER NODES names " + std::to_string(lines.size()) + " nodes");
  for (auto line : lines) {
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    auto fields = split(line, ' ');
    if (fields.size() < 8)
      return make_error(errc::invalid_argument, "not a CLUSTER NODES line: " + std::string{line.substr(0, 80)});
    auto flags = split(fields[2], ',');
    auto has = [&](std::string_view f) {
      for (auto x : flags)
        if (x == f)
          return true;
      return false;
    };
    if (has("noaddr") || has("handshake"))
      continue;
    // ip:port@cport[,hostname]
    auto address = fields[1].substr(0, fields[1].find('@'));
    auto at = host_port(address);
    if (!at)
      return make_error(errc::invalid_argument, "CLUSTER NODES names no address: " + std::string{fields[1]});
    if (at->host.empty())
      at->host = std::string{asked_host};
    auto name = at->address();
    map.nodes[name] = *at;
    if (!has("master") || has("fail"))
      continue;
    for (std::size_t i = 8; i < fields.size(); ++i) {
      auto slots = fields[i];
      if (slots.starts_with("["))
        continue; // [slot->-node] / [slot-<-node]: being migrated
      auto dash = slots.find('-');
      auto first = number(slots.substr(0, dash));
      auto last = dash == std::string_view::npos ? first : number(slots.substr(dash + 1));
      if (!first || !last || *first < 0 || *last >= k_redis_slots || *first > *last)
        return make_error(errc::invalid_argument, "CLUSTER NODES names no slot: " + std::string{slots});
      for (int s = *first; s <= *last; ++s) {
        if (!map.owner[s].empty() && map.owner[s] != name)
          return make_error(errc::invalid_argument, "CLUSTER NODES gives slot " + std::to_string(s) + " two masters");
        map.owner[s] = name;
      }
    }
  }
  return map;
}

std::optional<redis_redirect> parse_redirect(std::string_view error) {
  auto parts = split(error, ' ');
  if (parts.size() != 3 || (parts[0] != "MOVED" && parts[0] != "ASK"))
    return std::nullopt;
  auto slot = number(parts[1]);
  auto at = host_port(parts[2]);
  if (!slot || *slot < 0 || *slot >= k_redis_slots || !at || at->host.empty())
    return std::nullopt;
  return redis_redirect{parts[0] == "ASK", *slot, *at};
}

} // namespace stet
