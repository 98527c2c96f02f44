// A real redis-server for tests: started on a free loopback port, killed
// and restarted at will. Tests skip when redis-server is not installed,
// unless STET_TEST_REDIS=1 says it must be (scripts/test.sh).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

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

/// The cluster key the tests' nodes share.
inline const std::string k_test_cluster_key = "test-cluster-key-of-at-least-32-bytes";

struct redis_server {
  int port = free_port();
  pid_t pid = 0;
  std::string password; // requirepass, when set
  explicit redis_server(std::string requirepass = {}) : password(std::move(requirepass)) {
    start();
  }
  ~redis_server() {
    kill();
  }
  void start() {
    auto p = std::to_string(port);
    const char* argv[] = {"redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                          "no", "--loglevel", "warning", password.empty() ? nullptr : "--requirepass",
                          password.c_str(), nullptr};
    REQUIRE(posix_spawnp(&pid, "redis-server", nullptr, nullptr, const_cast<char**>(argv), environ) == 0);
    std::this_thread::sleep_for(200ms);
  }
  void kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = 0;
    }
  }
};

} // namespace stet::test
