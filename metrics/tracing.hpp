// Distributed tracing of edits: W3C trace context (`traceparent`) from the
// client, spans for an edit's receive, order, commit and fan-out on every
// node it crosses, exported as OTLP over HTTP/JSON (node/ posts them).
//
// Only edits whose client sent a sampled trace context are traced, so an
// untraced edit costs one empty-string check per step; and at most
// k_traces_per_second of them per node, since the client decides what is
// sampled. Spans wait in a bounded buffer (full: new spans are dropped and
// counted) until the exporter takes them.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stet::tracing {

/// A position in a trace: the trace, one span in it, and its flags.
struct context {
  std::array<unsigned char, 16> trace_id{};
  std::array<unsigned char, 8> span_id{};
  std::uint8_t flags = 0;
};

/// A W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not
/// all zero; later versions' extra fields are ignored as the spec says);
/// nullopt for anything else.
std::optional<context> parse(std::string_view traceparent);
std::string format(const context& c);

/// Unix time in nanoseconds (spans are stamped with it on every node).
std::int64_t unix_now_ns();

/// One finished or running span.
struct span {
  context ctx; // its own: the trace, its span id
  std::array<unsigned char, 8> parent{};
  std::string name;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  /// OTLP's SpanKind: 1 internal, 2 server (the node receiving a request).
  int kind = 1;
  std::vector<std::pair<std::string, std::string>> attributes;

  /// The traceparent its children name it by.
  std::string traceparent() const {
    return format(ctx);
  }
  span& with(std::string key, std::string value) {
    attributes.emplace_back(std::move(key), std::move(value));
    return *this;
  }
};

/// Whether this process records spans (see enable).
bool enabled();
/// Records spans from now on, for the exporter to take; `service_instance`
/// names this node in every span's resource. Up to `capacity` spans wait.
void enable(std::string service_instance, std::size_t capacity = 16384);

/// A span in the trace of `parent` (a traceparent), started at `start_ns`;
/// nullopt when tracing is off or `parent` is empty, malformed or not
/// sampled: the caller then records nothing.
std::optional<span> start(std::string_view parent, std::string name, std::int64_t start_ns = unix_now_ns());
/// Ends `s` at `end_ns` and keeps it for the exporter.
void finish(span s, std::int64_t end_ns = unix_now_ns());

/// Traced edits a node starts per second; past it, a sampled edit is not
/// traced (counted as over budget).
constexpr std::uint32_t k_traces_per_second = 100;
/// Whether one more trace may start this second: the gateway asks before
/// it starts an edit's receive span.
bool take_budget();

/// Up to `max_spans` recorded spans, oldest first, as the body of an OTLP
/// ExportTraceServiceRequest in its JSON encoding (how many in `taken`);
/// "" when none wait.
std::string take_otlp_json(std::size_t max_spans = 1024, std::size_t* taken = nullptr);
/// Spans waiting for the exporter.
std::size_t waiting();
/// Since start: spans dropped because the buffer was full, and traced
/// edits refused by take_budget.
std::uint64_t dropped();
std::uint64_t over_budget();

} // namespace stet::tracing
