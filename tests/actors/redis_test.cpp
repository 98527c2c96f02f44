// The Redis connection and membership against a real redis-server that the
// test starts, kills and restarts itself.
#include "actors/membership.hpp"
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

namespace {

template <class Predicate>
bool eventually(Predicate p, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// An io_context run by one thread, as redis_connection requires.
struct io_thread {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work = boost::asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~io_thread() {
    work.reset();
    io.stop();
    thread.join();
  }
  template <class F>
  void run(F f) {
    boost::asio::post(io, std::move(f));
  }
};

} // namespace

TEST_CASE("redis_connection: commands, pub/sub, and recovery after Redis restarts") {
  if (!redis_available())
    return;
  redis_server server;
  io_thread t;
  auto cmd = std::make_shared<redis_connection>(t.io, "127.0.0.1", server.port);
  auto sub = std::make_shared<redis_connection>(t.io, "127.0.0.1", server.port);
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
  t.run([&] {
    for (int i = 0; i < 3; ++i) {
      auto c = std::make_shared<redis_connection>(t.io, "127.0.0.1", server.port);
      c->start();
      auto n = std::make_shared<membership>(t.io, c, "node-" + std::to_string(i), 100ms, 400ms, "stet:test:nodes");
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
  t.run([&] { nodes[2]->leave(); }); // graceful: gone at once
  CHECK(all_see({"node-0", "node-1"}, {0, 1}));
  t.run([&] { nodes[1].reset(); });  // crashed: no more heartbeats, expires
  CHECK(all_see({"node-0"}, {0}));
  t.run([&] {
    nodes.clear();
    for (auto& c : conns)
      c->stop();
  });
  std::this_thread::sleep_for(50ms);
}
