#include "metrics/tracing.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace stet;

namespace {
const std::string k_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
}

TEST_CASE("traceparent: W3C version 00 parsed and formatted back") {
  auto c = tracing::parse(k_parent);
  REQUIRE(c);
  CHECK(c->flags == 1);
  CHECK(tracing::format(*c) == k_parent);
  // A later version may append fields; version 00 may not.
  CHECK(tracing::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"));
  CHECK(!tracing::parse(k_parent + "-extra"));
}

TEST_CASE("traceparent: malformed contexts are refused") {
  for (const std::string& bad : std::vector<std::string>{"", "00", "garbage", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                          "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
                          "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          std::string("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333\0-01", 55)}) {
    CAPTURE(bad);
    CHECK(!tracing::parse(bad));
  }
}

TEST_CASE("tracing: spans of sampled parents are exported as OTLP JSON; unsampled ones are not recorded") {
  tracing::enable("node-t", 4);
  CHECK(tracing::take_otlp_json().empty());
  CHECK(!tracing::start("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", "x")); // not sampled
  CHECK(!tracing::start("", "x"));
  auto s = tracing::start(k_parent, "stet.order", 1000);
  REQUIRE(s);
  s->with("stet.doc", "d1");
  auto child = tracing::start(s->traceparent(), "stet.commit", 1500);
  REQUIRE(child);
  tracing::finish(std::move(*s), 2000);
  tracing::finish(std::move(*child), 1200); // before its start: clamped
  auto body = nlohmann::json::parse(tracing::take_otlp_json());
  auto& rs = body["resourceSpans"][0];
  CHECK(rs["resource"]["attributes"][1]["value"]["stringValue"] == "node-t");
  auto& spans = rs["scopeSpans"][0]["spans"];
  REQUIRE(spans.size() == 2);
  CHECK(spans[0]["traceId"] == "0af7651916cd43dd8448eb211c80319c");
  CHECK(spans[0]["parentSpanId"] == "b7ad6b7169203331");
  CHECK(spans[0]["name"] == "stet.order");
  CHECK(spans[0]["startTimeUnixNano"] == "1000");
  CHECK(spans[0]["endTimeUnixNano"] == "2000");
  CHECK(spans[0]["attributes"][0]["key"] == "stet.doc");
  CHECK(spans[1]["parentSpanId"] == spans[0]["spanId"]);
  CHECK(spans[1]["endTimeUnixNano"] == "1500");
  CHECK(tracing::take_otlp_json().empty());

  // Full: later spans are dropped and counted, the buffer stays bounded.
  auto before = tracing::dropped();
  for (int i = 0; i < 6; ++i)
    tracing::finish(*tracing::start(k_parent, "s"));
  CHECK(tracing::dropped() == before + 2);
  CHECK(nlohmann::json::parse(tracing::take_otlp_json(3))["resourceSpans"][0]["scopeSpans"][0]["spans"].size() == 3);
  CHECK(nlohmann::json::parse(tracing::take_otlp_json())["resourceSpans"][0]["scopeSpans"][0]["spans"].size() == 1);
}
