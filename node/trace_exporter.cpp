#include "node/trace_exporter.hpp"

#include "gateway/webhook_client.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
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
      self->count_losses();
      self->send();
      self->schedule();
    });
  }

  // What the recorder counted since the last look, as metrics.
  void count_losses() {
    auto dropped = tracing::dropped(), refused = tracing::over_budget();
    auto& m = metrics::get();
    m.trace_spans("dropped", static_cast<double>(dropped - reported_dropped.exchange(dropped)));
    m.trace_spans("over_budget", static_cast<double>(refused - reported_over_budget.exchange(refused)));
  }

  void send() {
    if (in_flight.exchange(true))
      return; // the last request is still out: the next goes when it is answered
    std::size_t spans = 0;
    auto body = tracing::take_otlp_json(1024, &spans);
    if (body.empty()) {
      in_flight = false;
      return;
    }
    webhook_request req{url, {{"Content-Type", "application/json"}}, std::move(body)};
    transport->post(std::move(req), [self = shared_from_this(), spans](int status, std::string error) {
      bool ok = status >= 200 && status < 300;
      metrics::get().trace_spans(ok ? "exported" : "lost", static_cast<double>(spans));
      if (!ok)
        self->warn(status, error);
      self->in_flight = false;
      // More waiting than one request carries: on at once, not a second later.
      if (ok && tracing::waiting() > 0)
        self->send();
    });
  }

  void warn(int status, const std::string& error) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_warning < std::chrono::minutes(1))
      return;
    last_warning = now;
    log::warn("trace export failed; those spans are lost",
              {{"collector", where}, {"status", std::to_string(status)}, {"error", error}});
  }

  boost::asio::steady_timer timer;
  std::shared_ptr<webhook_transport> transport;
  std::string url;
  std::string where; // the collector as logged: no credentials, no query
  std::atomic<bool> in_flight{false};
  std::atomic<std::uint64_t> reported_dropped{0};
  std::atomic<std::uint64_t> reported_over_budget{0};
  // Written only while a request is out (in_flight): one writer at a time.
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
  if (auto target = parse_webhook_url(e->url))
    e->where = (target->tls ? "https://" : "http://") + target->host_header + target->path.substr(0, target->path.find('?'));
  e->schedule();
  log::info("tracing", {{"collector", e->where}});
}

} // namespace stet
