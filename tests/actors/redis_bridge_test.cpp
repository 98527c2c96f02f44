// The bridge's publication batching: the pure rule, and two bridges over a
// real redis-server (started here, skipped when it is not installed).
#include "actors/messages.hpp"
#include "actors/redis_bridge.hpp"
#include "actors/redis_cluster.hpp"
#include "proto/stet.pb.h"
#include "tests/actors/redis_server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;

namespace {

std::string envelope(const std::string& doc, std::uint64_t seq) {
  wire::BusEnvelope env;
  env.set_from_node("a");
  env.set_doc_id(doc);
  env.mutable_edit()->set_client_seq(seq);
  return env.SerializeAsString();
}

// The envelopes a publication carries, unbatched.
std::vector<wire::BusEnvelope> unbatch(const std::string& payload) {
  wire::BusEnvelope env;
  REQUIRE(env.ParseFromString(payload));
  if (!env.has_batch())
    return {env};
  std::vector<wire::BusEnvelope> out;
  for (auto& inner : env.batch().envelopes()) {
    REQUIRE(out.emplace_back().ParseFromString(inner));
    CHECK_FALSE(out.back().has_batch());
  }
  return out;
}

} // namespace

TEST_CASE("redis_bridge::coalesce: runs per channel become one batch, order kept, lone envelopes untouched") {
  std::vector<redis_bridge::publication> queued{
    {"x", envelope("d", 1)}, {"x", envelope("d", 2)}, {"y", envelope("e", 3)},
    {"x", envelope("d", 4)}, {"x", envelope("d", 5)}, {"x", envelope("d", 6)},
  };
  auto lone = queued[2].payload;
  auto out = redis_bridge::coalesce(queued, "a");
  REQUIRE(out.size() == 3);
  CHECK(out[0].channel == "x");
  CHECK(out[1].channel == "y");
  CHECK(out[1].payload == lone);
  CHECK(out[2].channel == "x");
  std::vector<std::uint64_t> seqs;
  for (auto& p : out)
    for (auto& e : unbatch(p.payload))
      seqs.push_back(e.edit().client_seq());
  CHECK(seqs == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});

  // A batch stops at the size limit; the next one carries on.
  auto capped = redis_bridge::coalesce(queued, "a", 2 * queued[0].payload.size());
  REQUIRE(capped.size() == 4); // [1,2] [3] [4,5] [6]
  CHECK(unbatch(capped[2].payload).size() == 2);
  CHECK(capped[3].payload == queued[5].payload);
}

TEST_CASE("redis_bridge::addressee_of: whom a channel's publications are for") {
  auto of = [](const std::string& channel) { return redis_bridge::addressee_of(channel); };
  auto relay = redis_cluster::relay_channel_of(cluster_bus::node_channel("n-2"), cluster_bus::doc_channel("a}b:c"));
  REQUIRE(of(relay));
  CHECK(of(relay)->doc == "a}b:c");
  CHECK(of(relay)->node == "n-2");
  REQUIRE(of(cluster_bus::doc_channel("d")));
  CHECK(of(cluster_bus::doc_channel("d"))->doc == "d");
  CHECK(of(cluster_bus::doc_channel("d"))->node.empty());
  for (auto* none : {"stet:cluster", "stet:node:n1", "{stet:doc:}:stet:node:n1", "{stet:doc:d}:stet:node:",
                     "{stet:doc:d}", "{other:d}:stet:node:n1", ""})
    CHECK_MESSAGE(!of(none), none);
}

TEST_CASE("redis_bridge: a burst of publishes arrives complete and in order, in fewer messages") {
  if (!redis_available())
    return;
  redis_server server;
  {
    caf::actor_system_config cfg;
    cfg.set("logger.verbosity", caf::atom("quiet"));
    caf::actor_system sys{cfg};
    std::mutex mutex;
    std::vector<std::string> received; // raw publications, as the registry gets them
    auto registry = sys.spawn([&](caf::event_based_actor*) -> caf::behavior {
      return {
        [&](bus_atom, const std::string& payload) {
          std::lock_guard<std::mutex> guard{mutex};
          received.push_back(payload);
        },
        [](ring_atom, const std::vector<std::string>&) {},
        [](redis_atom, bool) {},
      };
    });
    auto url = "127.0.0.1:" + std::to_string(server.port);
    redis_bridge sub{"b", url, std::make_shared<node_health>(), k_test_cluster_key};
    redis_bridge pub{"a", url, std::make_shared<node_health>(), k_test_cluster_key};
    sub.start(caf::actor_cast<bus_listener_api>(registry));
    pub.start(caf::actor_cast<bus_listener_api>(registry));
    std::atomic<bool> subscribed{false};
    sub.subscribe(redis_bridge::node_channel("b"), [&] { subscribed = true; });
    for (int i = 0; i < 500 && !subscribed; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(subscribed);
    std::this_thread::sleep_for(200ms); // the publisher's connection is up too

    constexpr std::uint64_t n = 2000;
    for (std::uint64_t seq = 1; seq <= n; ++seq)
      pub.publish(redis_bridge::node_channel("b"), envelope("d", seq));
    std::vector<std::uint64_t> seqs;
    std::size_t publications = 0;
    for (int i = 0; i < 1000 && seqs.size() < n; ++i) {
      std::this_thread::sleep_for(10ms);
      std::lock_guard<std::mutex> guard{mutex};
      seqs.clear();
      publications = received.size();
      for (auto& p : received)
        for (auto& e : unbatch(p))
          seqs.push_back(e.edit().client_seq());
    }
    REQUIRE(seqs.size() == n);
    for (std::uint64_t k = 0; k < n; ++k)
      REQUIRE(seqs[k] == k + 1);
    // 2,000 publish() calls in a tight loop queue faster than one thread
    // sends them: they cannot all have gone out one by one.
    CHECK(publications < n);
    MESSAGE(publications << " publications carried " << n << " envelopes");
    pub.stop();
    sub.stop();
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  }
}
