// Sends the spans this node recorded (metrics/tracing) to an OTLP/HTTP
// collector: a POST of JSON to <endpoint>/v1/traces every second while
// spans wait, one request at a time, each with the webhook client's 10 s
// limit. A collector that is down or refuses costs those spans (logged,
// at most once a minute), never the edits they describe.
#pragma once

#include "actors/webhook_sender.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace stet {

/// Turns tracing on and starts exporting from `ioc` (which must outlive
/// the exporter's timer: it runs until the context stops). `endpoint` is
/// the collector's base URL (http:// or https://); "/v1/traces" is added
/// unless it already ends so.
void start_trace_exporter(boost::asio::io_context& ioc, std::shared_ptr<webhook_transport> transport,
                          std::string endpoint, std::string node_id);

/// The URL spans are posted to for a collector's base URL.
std::string otlp_traces_url(std::string endpoint);

} // namespace stet
