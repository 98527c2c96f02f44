// A real redis-server for tests: started on a free loopback port, killed
// and restarted at will. Tests skip when redis-server is not installed,
// unless STET_TEST_REDIS=1 says it must be (scripts/test.sh).
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include <cstdio>

#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace stet::test {

using namespace std::chrono_literals;

inline bool redis_available() {
  if (std::system("command -v redis-server >/dev/null 2>&1") == 0)
    return true;
  auto* flag = std::getenv("STET_TEST_REDIS");
  REQUIRE_MESSAGE(!(flag && std::string_view{flag} == "1"), "STET_TEST_REDIS=1 but redis-server is missing");
  MESSAGE("redis-server not installed: Redis tests skipped (scripts/test.sh installs it)");
  return false;
}

inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

/// Whether `port` can be bound on loopback now.
inline bool port_free(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

/// A free port for a Redis Cluster node: it also listens on port + 10000
/// (its cluster bus), which must exist and be free too.
inline int free_cluster_port() {
  for (;;) {
    int p = free_port();
    if (p + 10000 <= 65535 && port_free(p + 10000))
      return p;
  }
}

/// The cluster key the tests' nodes share.
inline const std::string k_test_cluster_key = "test-cluster-key-of-at-least-32-bytes";

struct redis_server {
  int port = free_port();
  pid_t pid = 0;
  std::string password; // requirepass, when set
  bool cluster = false;  // a one-master Redis Cluster serving every slot
  explicit redis_server(std::string requirepass = {}, bool cluster_enabled = false)
    : password(std::move(requirepass)), cluster(cluster_enabled) {
    if (cluster)
      port = free_cluster_port();
    start();
  }
  ~redis_server() {
    kill();
  }
  void start() {
    auto p = std::to_string(port);
    auto nodes_conf = "/tmp/stet-test-nodes-" + p + ".conf";
    std::vector<const char*> argv{"redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--loglevel", "warning"};
    if (cluster)
      for (auto* a : {"--cluster-enabled", "yes", "--cluster-config-file", nodes_conf.c_str()})
        argv.push_back(a);
    if (!password.empty())
      for (auto* a : {"--requirepass", password.c_str()})
        argv.push_back(a);
    argv.push_back(nullptr);
    if (cluster)
      std::remove(nodes_conf.c_str());
    REQUIRE(posix_spawnp(&pid, "redis-server", nullptr, nullptr, const_cast<char**>(argv.data()), environ) == 0);
    // A loaded machine can take seconds to start a server: ask until it answers.
    auto cli = "redis-cli -p " + p + (password.empty() ? "" : " --no-auth-warning -a " + password);
    REQUIRE_MESSAGE(retry(cli + " PING 2>/dev/null | grep -q PONG"), "redis-server on port ", p, " never answered");
    if (cluster) {
      // Slots already added on an earlier try answer an error: look for the result, not the exit code.
      auto add = cli + " CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null 2>&1; " + cli +
                 " CLUSTER INFO | grep -q cluster_slots_assigned:16384";
      REQUIRE_MESSAGE(retry(add), "redis-server on port ", p, " refused to take the slots");
      // A cluster answers CLUSTERDOWN until it has seen its slots served.
      retry(cli + " CLUSTER INFO | grep -q cluster_state:ok");
    }
  }
  /// Runs the shell command `cmd` every 100 ms until it succeeds; false after 10 s.
  static bool retry(const std::string& cmd) {
    for (int i = 0; i < 100; ++i) {
      if (std::system(cmd.c_str()) == 0)
        return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  void kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = 0;
    }
  }
};

/// Polls `p` until it holds or `limit` passes.
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


} // namespace stet::test
