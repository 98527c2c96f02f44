// The Redis connection and membership against a real redis-server that the
// test starts, kills and restarts itself.
#include "actors/membership.hpp"
#include "actors/redis_sentinel.hpp"

#include <future>
#include "actors/redis_connection.hpp"
#include "tests/actors/redis_server.hpp"

#include <boost/asio/post.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;


TEST_CASE("redis_connection: commands, pub/sub, and recovery after Redis restarts") {
  if (!redis_available())
    return;
  redis_server server;
  io_thread t;
  auto cmd = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port});
  auto sub = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port});
  std::atomic<int> downs{0};
  std::mutex m;
  std::vector<std::string> received;
  t.run([&] {
    cmd->on_state([&](bool up, const std::string&) { downs += !up; });
    sub->on_message([&](const std::string& ch, const std::string& payload) {
      std::lock_guard<std::mutex> g{m};
      received.push_back(ch + "=" + payload);
    });
    cmd->start();
    sub->start();
    sub->subscribe("stet:test");
  });
  REQUIRE(eventually([&] { return cmd->up() && sub->up(); }));
  std::atomic<bool> got{false};
  std::string value;
  t.run([&] {
    cmd->command({"SET", "k", std::string("bin\0ary", 7)});
    cmd->command({"GET", "k"}, [&](const redis_reply& r) {
      value = r.str;
      got = true;
    });
  });
  REQUIRE(eventually([&] { return got.load(); }));
  CHECK(value == std::string("bin\0ary", 7));

  auto publish_until_received = [&](const std::string& payload) {
    return eventually([&] {
      t.run([&] { cmd->command({"PUBLISH", "stet:test", payload}); });
      std::this_thread::sleep_for(50ms);
      std::lock_guard<std::mutex> g{m};
      return std::find(received.begin(), received.end(), "stet:test=" + payload) != received.end();
    });
  };
  CHECK(publish_until_received("one"));

  // Redis dies: commands fail cleanly while it is down...
  server.kill();
  REQUIRE(eventually([&] { return !cmd->up() && !sub->up(); }));
  std::atomic<bool> failed{false};
  t.run([&] { cmd->command({"PING"}, [&](const redis_reply& r) { failed = !r.ok; }); });
  CHECK(eventually([&] { return failed.load(); }));
  // ...and everything recovers, subscriptions included, when it returns.
  server.start();
  REQUIRE(eventually([&] { return cmd->up() && sub->up(); }));
  CHECK(publish_until_received("two"));
  CHECK(downs >= 1);
  t.run([&] {
    cmd->stop();
    sub->stop();
  });
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("membership: every node sees the same live set; leavers and the dead drop out") {
  if (!redis_available())
    return;
  redis_server server;
  io_thread t;
  std::vector<std::shared_ptr<redis_connection>> conns;
  std::vector<std::shared_ptr<membership>> nodes;
  std::mutex m;
  std::vector<std::vector<std::string>> seen(3);
  auto seal = std::make_shared<const auth::bus_seal>(k_test_cluster_key);
  t.run([&] {
    for (int i = 0; i < 3; ++i) {
      auto c = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port});
      c->start();
      auto n = std::make_shared<membership>(t.io, c, "node-" + std::to_string(i), seal, 100ms, 400ms,
                                            "stet:test:nodes");
      n->on_change([&, i](const std::vector<std::string>& live) {
        std::lock_guard<std::mutex> g{m};
        seen[i] = live;
      });
      n->start();
      conns.push_back(c);
      nodes.push_back(n);
    }
  });
  auto all_see = [&](std::vector<std::string> expected, std::vector<int> who) {
    return eventually([&] {
      std::lock_guard<std::mutex> g{m};
      for (int i : who)
        if (seen[i] != expected)
          return false;
      return true;
    });
  };
  CHECK(all_see({"node-0", "node-1", "node-2"}, {0, 1, 2}));
  t.run([&] { nodes[2]->leave(); }); // graceful: gone at once, for itself too
  CHECK(all_see({"node-0", "node-1"}, {0, 1, 2}));
  t.run([&] { nodes[1].reset(); });  // crashed: no more heartbeats, expires
  CHECK(all_see({"node-0"}, {0}));
  t.run([&] {
    nodes.clear();
    for (auto& c : conns)
      c->stop();
  });
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("membership: a node that says it leaves is out at once; only its later heartbeats bring it back") {
  if (!redis_available())
    return;
  redis_server server;
  io_thread t;
  std::vector<std::shared_ptr<redis_connection>> conns;
  std::vector<std::shared_ptr<membership>> nodes;
  std::mutex m;
  std::vector<std::vector<std::string>> seen(2);
  auto seal = std::make_shared<const auth::bus_seal>(k_test_cluster_key);
  t.run([&] {
    for (int i = 0; i < 2; ++i) {
      auto c = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port});
      c->start();
      auto n = std::make_shared<membership>(t.io, c, "node-" + std::to_string(i), seal, 100ms, 400ms,
                                            "stet:test:leavers");
      n->on_change([&, i](const std::vector<std::string>& live) {
        std::lock_guard<std::mutex> g{m};
        seen[i] = live;
      });
      n->start();
      conns.push_back(c);
      nodes.push_back(n);
    }
  });
  auto sees = [&](int who, std::vector<std::string> expected) {
    return eventually([&] {
      std::lock_guard<std::mutex> g{m};
      return seen[who] == expected;
    });
  };
  REQUIRE(sees(0, {"node-0", "node-1"}));
  std::promise<std::vector<std::string>> after_notice;
  t.run([&] {
    nodes[0]->forget("node-1"); // its leaving notice
    after_notice.set_value(nodes[0]->live());
  });
  auto right_after = after_notice.get_future().get();
  CHECK(right_after == std::vector<std::string>{"node-0"}); // not after its heartbeat expires
  // node-1 did not stop after all: heartbeats written after the notice count.
  CHECK(sees(0, {"node-0", "node-1"}));
  t.run([&] {
    nodes.clear();
    for (auto& c : conns)
      c->stop();
  });
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("parse_redis_hosts: HOST:PORT lists, and what is not one is refused") {
  auto two = parse_redis_hosts("127.0.0.1:26379,10.0.0.2:26380");
  REQUIRE(two);
  REQUIRE(two->size() == 2);
  CHECK(((*two)[1].host == "10.0.0.2" && (*two)[1].port == 26380));
  CHECK_FALSE(parse_redis_hosts(""));
  CHECK_FALSE(parse_redis_hosts("nohost"));
  CHECK_FALSE(parse_redis_hosts("h:1,h:99999"));
}

TEST_CASE("parse_redis_url: host, port, password and ACL user, percent-decoded") {
  auto plain = parse_redis_url("redis://10.0.0.5:6380/0");
  REQUIRE(plain);
  CHECK((plain->host == "10.0.0.5" && plain->port == 6380 && plain->password.empty()));
  auto bare = parse_redis_url("127.0.0.1:7000");
  REQUIRE(bare);
  CHECK(bare->port == 7000);
  auto pass = parse_redis_url("redis://:p%40ss%3Aword@h:1");
  REQUIRE(pass);
  CHECK((pass->username.empty() && pass->password == "p@ss:word" && pass->host == "h"));
  auto acl = parse_redis_url("redis://stet:secret@h");
  REQUIRE(acl);
  CHECK((acl->username == "stet" && acl->password == "secret" && acl->port == 6379));
  CHECK_FALSE(parse_redis_url("rediss://h:1"));
  CHECK_FALSE(parse_redis_url("redis://h:99999"));
}

TEST_CASE("redis_connection logs in to a Redis with requirepass, and a wrong password stays down") {
  if (!redis_available())
    return;
  redis_server server{"pa55-word"};
  io_thread t;
  auto good = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port, "", "pa55-word"});
  auto bad = std::make_shared<redis_connection>(t.io, redis_endpoint{"127.0.0.1", server.port, "", "wrong"});
  std::mutex m;
  std::string why_down;
  std::atomic<bool> got{false};
  std::string pong;
  t.run([&] {
    bad->on_state([&](bool up, const std::string& why) {
      std::lock_guard<std::mutex> g{m};
      if (!up)
        why_down = why;
    });
    good->start();
    bad->start();
  });
  REQUIRE(eventually([&] { return good->up(); }));
  t.run([&] {
    good->command({"PING"}, [&](const redis_reply& r) {
      pong = r.ok ? r.str : r.error;
      got = true;
    });
  });
  REQUIRE(eventually([&] { return got.load(); }));
  CHECK(pong == "PONG");
  CHECK(eventually([&] {
    std::lock_guard<std::mutex> g{m};
    return why_down.find("refused the login") != std::string::npos;
  }));
  CHECK_FALSE(bad->up());
  {
    std::lock_guard<std::mutex> g{m};
    CHECK(why_down.find("wrong") == std::string::npos); // never the password
  }
  t.run([&] {
    good->stop();
    bad->stop();
  });
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("membership entries: only signed, fresh ones count") {
  auth::bus_seal seal{k_test_cluster_key};
  auth::bus_seal other{"not-the-cluster-key-but-32-bytes-long"};
  constexpr std::int64_t now = 1'800'000'000'000;
  auto entry = membership::entry(seal, "node#1", now);
  CHECK(membership::verify(seal, entry, now + 500, 3000) == "node#1");
  CHECK(membership::verify(seal, entry, now + 3001, 3000).empty());       // copied back later
  CHECK(membership::verify(seal, "evil", now, 3000).empty());             // unsigned
  CHECK(membership::verify(seal, membership::entry(other, "evil", now), now, 3000).empty());
  auto moved = entry;
  moved.replace(0, 4, "edon");                                            // another node's name
  CHECK(membership::verify(seal, moved, now, 3000).empty());
  CHECK(membership::verify(seal, "#" + entry, now, 3000).empty());
  CHECK(membership::verify(seal, "a##", now, 3000).empty());
}
