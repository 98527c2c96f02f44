// Who a request comes from, for per-address limits. Behind a reverse proxy
// every connection comes from the proxy; only for peers named trusted
// (--trusted-proxy CIDR) is X-Forwarded-For believed, and then only up to
// the first address that is not itself a trusted proxy. IPv6 clients are
// limited per /64, the block one subscriber usually holds.
#pragma once

#include "core/error.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace stet {

class trusted_proxies {
public:
  /// Adds "10.0.0.0/8", "fd00::/8" or a single address. Errors:
  /// invalid_argument naming what could not be read.
  status add(std::string_view cidr);
  bool empty() const noexcept {
    return v4_.empty() && v6_.empty();
  }
  bool contains(const boost::asio::ip::address& a) const;

private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

/// The key per-address limits count `a` under: the IPv4 address, or the
/// IPv6 /64 it lies in (IPv4-mapped IPv6 counts as IPv4).
std::string limit_key(const boost::asio::ip::address& a);

/// The client behind `peer`: `peer` itself unless it is a trusted proxy;
/// then the rightmost address of `forwarded_for` (X-Forwarded-For) that is
/// not a trusted proxy. A hop may carry a port ("203.0.113.7:4711",
/// "[2001:db8::1]:4711"), as some load balancers write it. A malformed
/// header counts as the peer.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer, std::string_view forwarded_for,
                                        const trusted_proxies& trusted);

/// Whether a trusted proxy says it received the request over TLS: the last
/// value of X-Forwarded-Proto, the one the proxy next to us wrote, is
/// "https". Behind such a proxy responses carry HSTS.
bool forwarded_https(const boost::asio::ip::address& peer, std::string_view forwarded_proto,
                     const trusted_proxies& trusted);

} // namespace stet
