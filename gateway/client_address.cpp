#include "gateway/client_address.hpp"

#include <boost/beast/core/string.hpp>

namespace stet {

namespace ip = boost::asio::ip;

namespace {

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

// "203.0.113.7:4711" -> "203.0.113.7", "[2001:db8::1]:4711" ->
// "2001:db8::1"; a bare IPv6 address (more than one colon) is left whole.
std::string_view without_port(std::string_view hop) {
  if (!hop.empty() && hop.front() == '[') {
    auto close = hop.find(']');
    return close == std::string_view::npos ? hop : hop.substr(1, close - 1);
  }
  auto colon = hop.find(':');
  if (colon != std::string_view::npos && hop.find(':', colon + 1) == std::string_view::npos)
    return hop.substr(0, colon);
  return hop;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

status trusted_proxies::add(std::string_view cidr) {
  boost::system::error_code ec;
  std::string text{cidr};
  if (text.find('/') == std::string::npos) {
    auto a = ip::make_address(text, ec);
    if (ec)
      return make_error(errc::invalid_argument, "--trusted-proxy " + text + " is not an address or CIDR block");
    text += a.is_v4() ? "/32" : "/128";
  }
  if (text.find(':') == std::string::npos) {
    auto net = ip::make_network_v4(text, ec);
    if (!ec) {
      v4_.push_back(net.canonical());
      return ok();
    }
  } else {
    auto net = ip::make_network_v6(text, ec);
    if (!ec) {
      v6_.push_back(net.canonical());
      return ok();
    }
  }
  return make_error(errc::invalid_argument, "--trusted-proxy " + std::string{cidr} + " is not a CIDR block");
}

bool trusted_proxies::contains(const ip::address& address) const {
  auto a = unmapped(address);
  if (a.is_v4()) {
    for (auto& n : v4_)
      if (ip::network_v4(a.to_v4(), 32).is_subnet_of(n) || ip::network_v4(a.to_v4(), 32) == n)
        return true;
    return false;
  }
  for (auto& n : v6_)
    if (ip::network_v6(a.to_v6(), 128).is_subnet_of(n) || ip::network_v6(a.to_v6(), 128) == n)
      return true;
  return false;
}

std::string limit_key(const ip::address& address) {
  auto a = unmapped(address);
  if (a.is_v4())
    return a.to_string();
  return ip::network_v6(a.to_v6(), 64).canonical().to_string();
}

ip::address client_address(const ip::address& peer, std::string_view forwarded_for, const trusted_proxies& trusted) {
  if (trusted.empty() || !trusted.contains(peer))
    return peer;
  auto client = peer;
  while (!forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto hop = trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos ? std::string_view{} : forwarded_for.substr(0, comma);
    boost::system::error_code ec;
    auto a = ip::make_address(std::string{without_port(hop)}, ec);
    if (ec)
      return peer; // not ours to guess at
    client = a;
    if (!trusted.contains(a))
      return a;
  }
  return client;
}

bool forwarded_https(const ip::address& peer, std::string_view forwarded_proto, const trusted_proxies& trusted) {
  if (trusted.empty() || !trusted.contains(peer))
    return false;
  auto comma = forwarded_proto.rfind(',');
  auto last = trim(comma == std::string_view::npos ? forwarded_proto : forwarded_proto.substr(comma + 1));
  return boost::beast::iequals(last, "https");
}

} // namespace stet
