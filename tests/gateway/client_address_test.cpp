#include "gateway/client_address.hpp"

#include <doctest/doctest.h>

using namespace stet;
namespace ip = boost::asio::ip;

TEST_CASE("limit_key: IPv4 as it is, IPv6 per /64, IPv4-mapped as IPv4") {
  CHECK(limit_key(ip::make_address("192.0.2.7")) == "192.0.2.7");
  CHECK(limit_key(ip::make_address("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64");
  CHECK(limit_key(ip::make_address("2001:db8:1:2:ffff::9")) == limit_key(ip::make_address("2001:db8:1:2::")));
  CHECK(limit_key(ip::make_address("2001:db8:1:3::1")) != limit_key(ip::make_address("2001:db8:1:2::1")));
  CHECK(limit_key(ip::make_address("::ffff:192.0.2.7")) == "192.0.2.7");
}

TEST_CASE("client_address believes X-Forwarded-For from trusted proxies only") {
  trusted_proxies trusted;
  REQUIRE(trusted.add("10.0.0.0/8"));
  REQUIRE(trusted.add("fd00::/8"));
  REQUIRE(trusted.add("192.0.2.1"));
  CHECK_FALSE(trusted.add("10.0.0.0/33"));
  CHECK_FALSE(trusted.add("proxy.example"));
  auto proxy = ip::make_address("10.1.2.3");
  auto stranger = ip::make_address("198.51.100.9");
  // An untrusted peer is the client, whatever it claims.
  CHECK(client_address(stranger, "203.0.113.5", trusted) == stranger);
  // Through a proxy: the rightmost address that is not a proxy.
  CHECK(client_address(proxy, "203.0.113.5", trusted) == ip::make_address("203.0.113.5"));
  CHECK(client_address(proxy, "1.1.1.1, 203.0.113.5, 10.9.9.9", trusted) == ip::make_address("203.0.113.5"));
  CHECK(client_address(ip::make_address("::ffff:10.1.2.3"), "203.0.113.5", trusted) == ip::make_address("203.0.113.5"));
  CHECK(client_address(ip::make_address("fd00::1"), "2001:db8::1", trusted) == ip::make_address("2001:db8::1"));
  CHECK(client_address(ip::make_address("192.0.2.1"), "203.0.113.6", trusted) == ip::make_address("203.0.113.6"));
  // Load balancers that write the client's port.
  CHECK(client_address(proxy, "203.0.113.5:4711", trusted) == ip::make_address("203.0.113.5"));
  CHECK(client_address(proxy, "[2001:db8::7]:4711", trusted) == ip::make_address("2001:db8::7"));
  CHECK(client_address(proxy, "2001:db8::7", trusted) == ip::make_address("2001:db8::7"));
  CHECK(client_address(proxy, "[2001:db8::7", trusted) == proxy);
  // Malformed or absent: the proxy itself.
  CHECK(client_address(proxy, "not-an-address", trusted) == proxy);
  CHECK(client_address(proxy, "", trusted) == proxy);
  // Only proxies in the chain: the leftmost of them.
  CHECK(client_address(proxy, "10.5.5.5, 10.6.6.6", trusted) == ip::make_address("10.5.5.5"));
  trusted_proxies none;
  CHECK(client_address(proxy, "203.0.113.5", none) == proxy);
}

TEST_CASE("forwarded_https believes X-Forwarded-Proto only from a trusted proxy, and only its own value") {
  trusted_proxies trusted;
  REQUIRE(trusted.add("10.0.0.0/8"));
  auto proxy = ip::make_address("10.1.2.3");
  CHECK(forwarded_https(proxy, "https", trusted));
  CHECK(forwarded_https(proxy, "HTTPS", trusted));
  CHECK(forwarded_https(proxy, "http, https", trusted));
  CHECK_FALSE(forwarded_https(proxy, "https, http", trusted)); // the client's claim, then the proxy's word
  CHECK_FALSE(forwarded_https(proxy, "", trusted));
  CHECK_FALSE(forwarded_https(ip::make_address("198.51.100.9"), "https", trusted));
  CHECK_FALSE(forwarded_https(proxy, "https", trusted_proxies{}));
}
