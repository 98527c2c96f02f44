// Redis Cluster's key space (pure), one RESP link, and the cluster client
// against a real one-master Redis Cluster that the test starts and kills.
// The six-process cluster with failover is tests/integration/test_redis_cluster.py.
#include "actors/redis_cluster.hpp"
#include "actors/redis_slots.hpp"
#include "actors/resp_link.hpp"
#include "tests/actors/redis_server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;

TEST_CASE("redis_key_slot: CRC16 of the key, or of its first non-empty hash tag") {
  CHECK(redis_crc16("123456789") == 0x31C3); // the XMODEM check value
  // Values CLUSTER KEYSLOT gives.
  CHECK(redis_key_slot("foo") == 12182);
  CHECK(redis_key_slot("bar") == 5061);
  CHECK(redis_key_slot("{user1000}.following") == redis_key_slot("{user1000}.followers"));
  CHECK(redis_key_slot("foo{}{bar}") == redis_key_slot("foo{}{bar}"));
  CHECK(redis_key_slot("foo{}{bar}") != redis_key_slot("bar"));      // empty tag: the whole key
  CHECK(redis_key_slot("foo{{bar}}zap") == redis_key_slot("{bar"));  // up to the first }
  CHECK(redis_key_slot("foo{bar}{zap}") == redis_key_slot("bar"));
  // A relayed session's channel shares its document channel's slot.
  boost::asio::io_context io;
  redis_cluster c{io, {}, {}};
  CHECK(redis_key_slot(c.relay_channel("stet:node:b", "stet:doc:x")) == redis_key_slot("stet:doc:x"));
}

TEST_CASE("parse_cluster_nodes: masters' slots; replicas, failed masters and migrations skipped") {
  auto text = "07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected\n"
              "67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922\n"
              "292f :30003@31003 myself,master - 0 1426238318243 3 connected 10923-16383 [93->-e7d1]\n"
              "6ec2 127.0.0.1:30005@31005 master,fail - 0 1426238316232 5 connected\n"
              "e7d1 127.0.0.1:30001@31001,host1 master - 0 0 1 connected 0-5459 5460\n";
  auto map = parse_cluster_nodes(text, "10.0.0.9");
  REQUIRE(map);
  CHECK(map->complete());
  CHECK(map->owner[0] == "127.0.0.1:30001");
  CHECK(map->owner[5460] == "127.0.0.1:30001");
  CHECK(map->owner[5461] == "127.0.0.1:30002");
  CHECK(map->owner[16383] == "10.0.0.9:30003"); // "myself" without an address: the one asked
  CHECK(map->masters().size() == 3);
  auto partial = parse_cluster_nodes("e7d1 127.0.0.1:30001@31001 master - 0 0 1 connected 0-100\n", "h");
  REQUIRE(partial);
  CHECK_FALSE(partial->complete());
  CHECK_FALSE(parse_cluster_nodes("garbage\n", "h"));
  CHECK_FALSE(parse_cluster_nodes("a 127.0.0.1:1@2 master - 0 0 1 connected 0-99999\n", "h"));
  // Every node is known (a redirect may only go to one of them); replicas too.
  CHECK(map->nodes.count("127.0.0.1:30004"));
  CHECK(map->nodes.count("127.0.0.1:30005"));
  // What could not be a host, two masters for one slot, and a reply no real
  // cluster gives are refused.
  CHECK_FALSE(parse_cluster_nodes("a x,y:7000@1 master - 0 0 1 connected 0-10\n", "h"));
  CHECK_FALSE(parse_cluster_nodes("a redis://h:7000@1 master - 0 0 1 connected 0-10\n", "h"));
  CHECK_FALSE(parse_cluster_nodes("a 10.0.0.1:1@2 master - 0 0 1 connected 0-10\n"
                                  "b 10.0.0.2:1@2 master - 0 0 1 connected 10-20\n",
                                  "h"));
  std::string huge;
  for (std::size_t i = 0; i <= k_max_cluster_nodes; ++i)
    huge += "n 10.0.0.1:" + std::to_string(1000 + i % 60000) + "@1 slave x 0 0 1 connected\n";
  CHECK_FALSE(parse_cluster_nodes(huge, "h"));
}

TEST_CASE("parse_redirect: MOVED and ASK name a slot and an address; other errors are not redirects") {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK_FALSE(moved->ask);
  CHECK(moved->slot == 3999);
  CHECK(moved->at.address() == "127.0.0.1:6381");
  auto ask = parse_redirect("ASK 12 10.1.2.3:7000");
  REQUIRE(ask);
  CHECK(ask->ask);
  CHECK_FALSE(parse_redirect("ERR unknown command"));
  CHECK_FALSE(parse_redirect("MOVED 99999 127.0.0.1:1"));
  CHECK_FALSE(parse_redirect("MOVED 1 nowhere"));
}

TEST_CASE("resp_link: commands, sharded pub/sub on one connection, and a server that stops answering") {
  if (!redis_available())
    return;
  redis_server server;
  io_thread t;
  auto link = std::make_shared<resp_link>(t.io, redis_endpoint{"127.0.0.1", server.port});
  auto publisher = std::make_shared<resp_link>(t.io, redis_endpoint{"127.0.0.1", server.port});
  std::mutex m;
  std::vector<std::string> pushes;
  std::atomic<bool> closed{false};
  std::string closed_why;
  t.run([&] {
    link->on_push([&](const redis_reply& r) {
      std::lock_guard<std::mutex> g{m};
      pushes.push_back(r.elements[0] + ":" + r.elements[1] + "=" + r.elements[2]);
    });
    link->on_closed([&](const std::string& why) {
      closed_why = why;
      closed = true;
    });
    link->start();
    publisher->start();
  });
  REQUIRE(eventually([&] { return link->ready() && publisher->ready(); }));
  std::atomic<int> confirmed{0};
  t.run([&] {
    link->command({"SSUBSCRIBE", "stet:doc:a"}, [&](const redis_reply& r) { confirmed += r.elements[0] == "ssubscribe"; });
    link->command({"PING"}); // answered between pushes in subscribed mode
    link->command({"SSUBSCRIBE", "stet:doc:b"}, [&](const redis_reply& r) { confirmed += r.elements[0] == "ssubscribe"; });
  });
  REQUIRE(eventually([&] { return confirmed == 2; }));
  t.run([&] {
    publisher->command({"SPUBLISH", "stet:doc:a", std::string("x\0y", 3)});
    publisher->command({"SPUBLISH", "stet:doc:b", "two"});
  });
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return pushes.size() == 2;
  }));
  CHECK(pushes[0] == "smessage:stet:doc:a=" + std::string("x\0y", 3));
  CHECK(pushes[1] == "smessage:stet:doc:b=two");

  // A server that stops answering (SIGSTOP: the socket stays open) is
  // noticed by the link's own pings.
  ::kill(server.pid, SIGSTOP);
  CHECK(eventually([&] { return closed.load(); }, 8s));
  ::kill(server.pid, SIGCONT);
  CHECK(closed_why == "no answer from redis");
  std::atomic<bool> refused{false};
  t.run([&] { link->command({"PING"}, [&](const redis_reply& r) { refused = !r.ok; }); });
  CHECK(eventually([&] { return refused.load(); }));
  t.run([&] { publisher->close(); });
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("redis_cluster: routes commands and subscriptions to the slot's master, and comes back after it restarts") {
  if (!redis_available())
    return;
  redis_server server{"", true};
  io_thread t;
  auto cluster = std::make_shared<redis_cluster>(t.io, std::vector<redis_endpoint>{{"127.0.0.1", server.port}},
                                                 redis_endpoint{});
  std::atomic<int> ups{0}, downs{0};
  std::mutex m;
  std::vector<std::string> received, confirmed;
  t.run([&] {
    cluster->on_state([&](bool up, const std::string&) { (up ? ups : downs)++; });
    cluster->on_message([&](const std::string& ch, const std::string& payload) {
      std::lock_guard<std::mutex> g{m};
      received.push_back(ch + "=" + payload);
    });
    cluster->on_subscribed([&](const std::string& ch) {
      std::lock_guard<std::mutex> g{m};
      confirmed.push_back(ch);
    });
    cluster->start();
    cluster->subscribe("stet:doc:a");
    cluster->subscribe(cluster->relay_channel("stet:node:n1", "stet:doc:a"));
  });
  REQUIRE(eventually([&] { return cluster->up(); }));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return confirmed.size() == 2;
  }));
  std::atomic<bool> got{false};
  std::string value;
  t.run([&] {
    cluster->command({"SET", "k", "v"});
    cluster->command({"GET", "k"}, [&](const redis_reply& r) {
      value = r.ok ? r.str : r.error;
      got = true;
    });
    cluster->publish("stet:doc:a", "one", {});
    cluster->publish(cluster->relay_channel("stet:node:n1", "stet:doc:a"), "two", {});
  });
  REQUIRE(eventually([&] { return got.load(); }));
  CHECK(value == "v");
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return received.size() == 2;
  }));
  CHECK(received[0] == "stet:doc:a=one"); // one shard, one connection: in order
  CHECK(cluster->listening("stet:doc:a"));

  // The master dies: down, commands fail in bounded time; back, everything
  // is subscribed again.
  server.kill();
  REQUIRE(eventually([&] { return !cluster->up(); }));
  std::atomic<bool> failed{false};
  t.run([&] { cluster->command({"GET", "k"}, [&](const redis_reply& r) { failed = !r.ok; }); });
  CHECK(eventually([&] { return failed.load(); }, 8s));
  {
    std::lock_guard<std::mutex> g{m};
    confirmed.clear();
  }
  server.start();
  REQUIRE(eventually([&] { return cluster->up(); }, 15s));
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return confirmed.size() == 2;
  }));
  t.run([&] { cluster->publish("stet:doc:a", "three", {}); });
  CHECK(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return received.size() == 3 && received.back() == "stet:doc:a=three";
  }));
  CHECK(downs >= 1);
  CHECK(ups >= 2);
  t.run([&] { cluster->stop(); });
  std::this_thread::sleep_for(50ms);
}
