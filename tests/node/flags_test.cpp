#include "node/flags.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <sstream>
#include <vector>

using namespace stet;

namespace {

parsed_flags parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"stet"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_flags(static_cast<int>(argv.size()), argv.data(), node_options{});
}

// Sets an environment variable for one scope.
struct scoped_env {
  const char* name;
  scoped_env(const char* n, const char* value) : name(n) {
    ::setenv(n, value, 1);
  }
  ~scoped_env() {
    ::unsetenv(name);
  }
};

} // namespace

TEST_CASE("flags: defaults, values in both spellings, repeatable flags, derived limits") {
  auto p = parse({"serve"});
  REQUIRE(p.options);
  CHECK(p.options->listen.host == "127.0.0.1");
  CHECK(p.options->listen.port == 8080);
  CHECK(p.log_level == "info");

  p = parse({"serve", "--listen", "0.0.0.0:9000", "--metrics-listen=[::1]:9090", "--allowed-origin", "https://a",
             "--allowed-origin=https://b", "--max-edits-per-second", "7", "--idle-timeout-ms", "250",
             "--history-seconds", "3", "--max-documents-per-hour", "50", "--allow-anonymous", "--web-root", "",
             "--log-level", "debug"});
  REQUIRE(p.options);
  auto& o = *p.options;
  CHECK(o.listen.host == "0.0.0.0");
  CHECK(o.listen.port == 9000);
  CHECK(o.metrics_listen.host == "::1");
  CHECK(o.metrics_listen.port == 9090);
  CHECK(o.allowed_origins == std::vector<std::string>{"https://a", "https://b"});
  CHECK(o.limits.edits_per_second_per_session == 7);
  CHECK(o.limits.edits_per_second_per_user == 14);
  CHECK(o.registry.document.idle_timeout == std::chrono::milliseconds{250});
  CHECK(o.registry.limits.history_age_ms == 3000);
  CHECK(o.limits.documents_per_hour_per_user == 50);
  CHECK(o.limits.documents_per_hour_per_ip == 5);
  CHECK(o.allow_anonymous);
  CHECK(o.web_root.empty());
  CHECK(p.log_level == "debug");

  p = parse({"serve", "--max-frame-bytes", "010", "--storage-connections", "08", "--history-seconds", "000"});
  REQUIRE(p.options);
  CHECK(p.options->limits.max_frame_bytes == 10); // decimal, never octal
  CHECK(p.options->storage_connections == 8);
  CHECK(p.options->registry.limits.history_age_ms == 0);

  p = parse({"serve", "--max-edits-per-second", "7", "--max-edits-per-second", "9"});
  REQUIRE(p.options);
  CHECK(p.options->limits.edits_per_second_per_session == 9); // the later one counts
}

TEST_CASE("flags: the environment fills in what the command line leaves out") {
  scoped_env node{"STET_NODE_ID", "from-env"};
  scoped_env listen{"STET_LISTEN", "127.0.0.2:7000"};
  scoped_env key{"STET_CLUSTER_SECRET", "an-environment-cluster-key-of-32-bytes"};
  auto p = parse({"serve", "--listen", "127.0.0.3:7001"});
  REQUIRE(p.options);
  CHECK(p.options->node_id == "from-env");
  CHECK(p.options->listen.host == "127.0.0.3"); // the flag wins
  CHECK(p.options->cluster_secret == "an-environment-cluster-key-of-32-bytes");
}

TEST_CASE("flags: key files are read, and short or missing ones refused") {
  auto dir = std::filesystem::temp_directory_path() / ("stet-flags-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto good = (dir / "good").string(), short_key = (dir / "short").string();
  std::ofstream{good} << "a-cluster-key-that-is-long-enough-for-hmac\n";
  std::ofstream{short_key} << "short\n";
  auto p = parse({"serve", "--cluster-secret-file", good.c_str(), "--auth-secret-file", good.c_str()});
  REQUIRE(p.options);
  CHECK(p.options->cluster_secret == "a-cluster-key-that-is-long-enough-for-hmac");
  CHECK(p.options->auth_secret == p.options->cluster_secret);
  CHECK_FALSE(parse({"serve", "--cluster-secret-file", short_key.c_str()}).options);
  CHECK(parse({"serve", "--auth-secret-file", "/nonexistent/key"}).exit_code == 2);
  // A key given where its file was expected is not echoed.
  std::ostringstream err;
  auto* old = std::cerr.rdbuf(err.rdbuf());
  auto mistaken = parse({"serve", "--cluster-secret-file", "the-cluster-key-itself-by-mistake-0123456789"});
  std::cerr.rdbuf(old);
  CHECK(mistaken.exit_code == 2);
  CHECK(err.str().find("--cluster-secret-file") != std::string::npos);
  CHECK(err.str().find("by-mistake") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("flags: usage errors exit 2, help exits 0") {
  for (auto bad : std::vector<std::vector<const char*>>{{"serve", "--listen", "no-port"},
                                                         {"serve", "--max-frame-bytes", "lots"},
                                                         {"serve", "--max-frame-bytes", "-1"},
                                                         {"serve", "--write-timeout-ms", "-1"},
                                                         {"serve", "--snapshot-every", "-1"},
                                                         {"serve", "--max-password-hashes", "-1"},
                                                         {"serve", "--io-threads", "0"},
                                                         {"serve", "--max-joins-per-second", "0"},
                                                         {"serve", "--max-frame-bytes", "0x10"},
                                                         {"serve", "--max-frame-bytes", "1e3"},
                                                         {"serve", "--max-frame-bytes", ""},
                                                         {"serve", "--token-ttl-seconds", "-5"},
                                                         {"serve", "--log-level", "loud"},
                                                         {"serve", "--redis-sentinel", "127.0.0.1:26379"},
                                                         {"serve", "--redis-master", "m"},
                                                         {"serve", "--redis-sentinel", "nohost", "--redis-master", "m"},
                                                         {"serve", "--no-such-flag", "1"},
                                                         {"serve", "--listen"},
                                                         {"serve", "stray"},
                                                         {"unknown-command"},
                                                         {}}) {
    std::vector<const char*> argv{"stet"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    auto p = parse_flags(static_cast<int>(argv.size()), argv.data(), node_options{});
    std::string shown;
    for (auto* a : bad)
      shown += std::string{a} + " ";
    INFO("arguments: ", shown);
    CHECK_FALSE(p.options);
    CHECK(p.exit_code == 2);
  }
  auto help = parse({"serve", "--help"});
  CHECK_FALSE(help.options);
  CHECK(help.exit_code == 0);
}
