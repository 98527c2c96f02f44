#include "node/trace_exporter.hpp"

#include "metrics/log.hpp"
#include "metrics/tracing.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>

namespace stet {

namespace {

struct exporter : std::enable_shared_from_this<exporter> {
  exporter(boost::asio::io_context& ioc, std::shared_ptr<webhook_transport> t, std::string u)
    : timer(ioc), transport(std::move(t)), url(std::move(u)) {
  }

  void schedule() {
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec)
        return;
      self->send();
      self->schedule();
    });
  }

  void send() {
    if (in_flight.exchange(true))
      return; // the last request is still out: its spans first
    auto body = tracing::take_otlp_json();
    if (body.empty()) {
      in_flight = false;
      return;
    }
    webhook_request req{url, {{"Content-Type", "application/json"}}, std::move(body)};
    transport->post(std::move(req), [self = shared_from_this()](int status, std::string error) {
      self->in_flight = false;
      if (status >= 200 && status < 300)
        return;
      auto now = std::chrono::steady_clock::now();
      if (now - self->last_warning < std::chrono::minutes(1))
        return;
      self->last_warning = now;
      log::warn("trace export failed; those spans are dropped",
                {{"url", self->url}, {"status", std::to_string(status)}, {"error", error},
                 {"dropped_full", std::to_string(tracing::dropped())}});
    });
  }

  boost::asio::steady_timer timer;
  std::shared_ptr<webhook_transport> transport;
  std::string url;
  std::atomic<bool> in_flight{false};
  // Only the transport's completion touches it, one request at a time.
  std::chrono::steady_clock::time_point last_warning{};
};

} // namespace

std::string otlp_traces_url(std::string endpoint) {
  while (!endpoint.empty() && endpoint.back() == '/')
    endpoint.pop_back();
  if (!endpoint.ends_with("/v1/traces"))
    endpoint += "/v1/traces";
  return endpoint;
}

void start_trace_exporter(boost::asio::io_context& ioc, std::shared_ptr<webhook_transport> transport,
                          std::string endpoint, std::string node_id) {
  tracing::enable(std::move(node_id));
  auto e = std::make_shared<exporter>(ioc, std::move(transport), otlp_traces_url(std::move(endpoint)));
  e->schedule();
  log::info("tracing", {{"otlp", e->url}});
}

} // namespace stet
