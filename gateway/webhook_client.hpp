// The webhook sender's way out: one HTTP/1.1 POST per request over plain
// TCP or TLS (OpenSSL, the receiver's certificate checked against the
// system's trust store and the URL's host), each on the node's Asio
// threads with a 10 s limit from connect to answer.
#pragma once

#include "actors/webhook_sender.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <optional>
#include <string>

namespace stet {

/// Where a webhook URL points.
struct webhook_target {
  bool tls = false;
  std::string host; // a name, or an address (IPv6 without brackets)
  bool is_address = false;
  std::string port;
  std::string host_header; // as in the URL, with its port
  std::string path;
};

/// nullopt unless `url` is http:// or https:// with a host.
std::optional<webhook_target> parse_webhook_url(const std::string& url);

class webhook_client final : public webhook_transport {
public:
  explicit webhook_client(boost::asio::io_context& ioc);
  void post(webhook_request req, std::function<void(int status, std::string error)> done) override;

private:
  boost::asio::io_context& ioc_;
  boost::asio::ssl::context tls_;
};

} // namespace stet
