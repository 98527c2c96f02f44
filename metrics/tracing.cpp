#include "metrics/tracing.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>

namespace stet::tracing {

namespace {

struct recorder {
  std::mutex mutex;
  std::deque<span> spans;
  std::size_t capacity = 0;
  std::string instance;
  std::uint64_t dropped = 0;
  std::uint64_t over_budget = 0;
  std::int64_t budget_second = 0; // the second the budget counts in
  std::uint32_t budget_used = 0;
};

std::atomic<recorder*> g_recorder{nullptr};

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1; // uppercase is not valid in a traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view in, std::array<unsigned char, N>& out) {
  if (in.size() != 2 * N)
    return false;
  bool nonzero = false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
    nonzero = nonzero || out[i] != 0;
  }
  return nonzero;
}

template <std::size_t N>
std::string hex(const std::array<unsigned char, N>& in) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  return out;
}

std::array<unsigned char, 8> random_span_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::array<unsigned char, 8> id{};
  do {
    auto v = rng();
    for (auto& b : id) {
      b = static_cast<unsigned char>(v);
      v >>= 8;
    }
  } while (id == std::array<unsigned char, 8>{});
  return id;
}

} // namespace

std::optional<context> parse(std::string_view tp) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
    return std::nullopt;
  auto version = tp.substr(0, 2);
  if (version == "ff" || hex_value(version[0]) < 0 || hex_value(version[1]) < 0)
    return std::nullopt;
  // Version 00 is exactly 55 characters; a later version may append "-...".
  if (tp.size() > 55 && (version == "00" || tp[55] != '-'))
    return std::nullopt;
  context c;
  std::array<unsigned char, 1> flags{};
  if (!parse_hex(tp.substr(3, 32), c.trace_id) || !parse_hex(tp.substr(36, 16), c.span_id))
    return std::nullopt;
  auto f = tp.substr(53, 2);
  if (hex_value(f[0]) < 0 || hex_value(f[1]) < 0)
    return std::nullopt;
  flags[0] = static_cast<unsigned char>(hex_value(f[0]) << 4 | hex_value(f[1]));
  c.flags = flags[0];
  return c;
}

std::string format(const context& c) {
  std::array<unsigned char, 1> flags{c.flags};
  return "00-" + hex(c.trace_id) + "-" + hex(c.span_id) + "-" + hex(flags);
}

std::int64_t unix_now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch()).count();
}

bool enabled() {
  return g_recorder.load(std::memory_order_acquire) != nullptr;
}

void enable(std::string service_instance, std::size_t capacity) {
  // Lives as long as the process (as does one it replaces, which another
  // thread may still be using): spans may be recorded until exit.
  auto* r = new recorder;
  r->capacity = capacity;
  r->instance = std::move(service_instance);
  g_recorder.store(r, std::memory_order_release);
}

std::optional<span> start(std::string_view parent, std::string name, std::int64_t start_ns) {
  if (parent.empty() || !enabled())
    return std::nullopt;
  auto p = parse(parent);
  if (!p || !(p->flags & 1))
    return std::nullopt;
  span s;
  s.ctx = *p;
  s.ctx.span_id = random_span_id();
  s.parent = p->span_id;
  s.name = std::move(name);
  s.start_ns = start_ns;
  return s;
}

void finish(span s, std::int64_t end_ns) {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return;
  s.end_ns = std::max(end_ns, s.start_ns);
  std::lock_guard lock{r->mutex};
  if (r->spans.size() >= r->capacity) {
    ++r->dropped;
    return;
  }
  r->spans.push_back(std::move(s));
}

bool take_budget() {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return false;
  auto second = unix_now_ns() / 1'000'000'000;
  std::lock_guard lock{r->mutex};
  if (second != r->budget_second) {
    r->budget_second = second;
    r->budget_used = 0;
  }
  if (r->budget_used >= k_traces_per_second) {
    ++r->over_budget;
    return false;
  }
  ++r->budget_used;
  return true;
}

std::size_t waiting() {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return 0;
  std::lock_guard lock{r->mutex};
  return r->spans.size();
}

std::uint64_t over_budget() {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return 0;
  std::lock_guard lock{r->mutex};
  return r->over_budget;
}

std::string take_otlp_json(std::size_t max_spans, std::size_t* taken) {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return {};
  std::vector<span> batch;
  std::string instance;
  {
    std::lock_guard lock{r->mutex};
    while (!r->spans.empty() && batch.size() < max_spans) {
      batch.push_back(std::move(r->spans.front()));
      r->spans.pop_front();
    }
    instance = r->instance;
  }
  if (taken)
    *taken = batch.size();
  if (batch.empty())
    return {};
  using nlohmann::json;
  auto text = [](const std::string& v) { return json{{"stringValue", v}}; };
  json spans = json::array();
  for (auto& s : batch) {
    json attrs = json::array();
    for (auto& [k, v] : s.attributes)
      attrs.push_back({{"key", k}, {"value", text(v)}});
    spans.push_back({{"traceId", hex(s.ctx.trace_id)},
                     {"spanId", hex(s.ctx.span_id)},
                     {"parentSpanId", hex(s.parent)},
                     {"name", s.name},
                     {"kind", s.kind},
                     {"startTimeUnixNano", std::to_string(s.start_ns)},
                     {"endTimeUnixNano", std::to_string(s.end_ns)},
                     {"attributes", attrs}});
  }
  json resource_attrs = json::array({{{"key", "service.name"}, {"value", text("stet")}},
                                     {{"key", "service.instance.id"}, {"value", text(instance)}}});
  json body{{"resourceSpans",
             json::array({{{"resource", {{"attributes", resource_attrs}}},
                           {"scopeSpans", json::array({{{"scope", {{"name", "stet"}}}, {"spans", spans}}})}}})}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::uint64_t dropped() {
  auto* r = g_recorder.load(std::memory_order_acquire);
  if (!r)
    return 0;
  std::lock_guard lock{r->mutex};
  return r->dropped;
}

} // namespace stet::tracing
