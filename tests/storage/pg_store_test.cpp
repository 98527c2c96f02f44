#include "storage/migrations.hpp"
#include "storage/pg_store.hpp"

#include "tests/storage/store_conformance.hpp"

#include <doctest/doctest.h>
#include <libpq-fe.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>
#include <unistd.h>

using namespace stet;

namespace {

// The tests need a real PostgreSQL: scripts/test.sh runs them inside
// pg_virtualenv, whose PG* variables libpq reads. STET_TEST_POSTGRES=1 says
// one is there; without it the PostgreSQL cases are skipped with a warning.
bool postgres_available() {
  auto* flag = std::getenv("STET_TEST_POSTGRES");
  if (flag && std::string_view{flag} == "1")
    return true;
  MESSAGE("STET_TEST_POSTGRES is not set: PostgreSQL tests skipped (scripts/test.sh sets it)");
  return false;
}

// A fresh database, dropped at the end.
struct scratch_database {
  std::string name = "stet_test_" + std::to_string(::getpid());
  scratch_database() {
    run("DROP DATABASE IF EXISTS " + name);
    run("CREATE DATABASE " + name);
  }
  ~scratch_database() {
    run("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  }
  std::string conninfo() const {
    return "dbname=" + name + " connect_timeout=5";
  }
  static void run(const std::string& sql) {
    auto* c = PQconnectdb("dbname=postgres");
    REQUIRE_MESSAGE(PQstatus(c) == CONNECTION_OK, PQerrorMessage(c));
    auto* r = PQexec(c, sql.c_str());
    CHECK_MESSAGE(PQresultStatus(r) == PGRES_COMMAND_OK, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
  }
};

} // namespace

TEST_CASE("pg_store passes the storage conformance suite") {
  if (!postgres_available())
    return;
  scratch_database db;
  test::run_store_conformance([&](bool) {
    auto s = storage::pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    return std::move(*s);
  });
}

TEST_CASE("pg_store refuses U+0000 in any text and keeps what it stored byte-exact across a reconnect") {
  if (!postgres_available())
    return;
  scratch_database db;
  test::run_text_conformance([&](bool) {
    auto s = storage::pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    return std::move(*s);
  });
}

TEST_CASE("pg_store revokes tokens, changes passwords and deletes accounts") {
  if (!postgres_available())
    return;
  scratch_database db;
  test::run_account_conformance([&](bool) {
    auto s = storage::pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    return std::move(*s);
  });
}

TEST_CASE("pg_store writes the webhook outbox in the transactions that cause its events") {
  if (!postgres_available())
    return;
  scratch_database db;
  test::run_webhook_conformance([&](bool) {
    auto s = storage::pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    return std::move(*s);
  });
}

TEST_CASE("pg_store keeps named versions") {
  if (!postgres_available())
    return;
  scratch_database db;
  test::run_version_conformance([&](bool) {
    auto s = storage::pg_store::open(db.conninfo());
    REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
    return std::move(*s);
  });
}

TEST_CASE("pg_store migrates once when several nodes start together") {
  if (!postgres_available())
    return;
  scratch_database db;
  std::vector<std::thread> nodes;
  std::vector<int> versions(4, -1);
  for (int i = 0; i < 4; ++i)
    nodes.emplace_back([&, i] {
      auto s = storage::pg_store::open(db.conninfo());
      versions[i] = s ? (*s)->schema_version() : -1;
    });
  for (auto& t : nodes)
    t.join();
  for (auto v : versions)
    CHECK(v == static_cast<int>(storage::migrations().size()));
}

TEST_CASE("pg_store reports an unreachable server as storage_unavailable") {
  auto s = storage::pg_store::open("host=127.0.0.1 port=1 connect_timeout=2");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == errc::storage_unavailable);
  // The server's address and libpq's words are for the log, not the client.
  CHECK(s.error().message.find("127.0.0.1") == std::string::npos);
  CHECK(s.error().detail.find("127.0.0.1") != std::string::npos);
  CHECK(describe(s.error()).find("127.0.0.1") != std::string::npos);
}

TEST_CASE("pg_store gives up on a server that accepts the connection and never answers") {
  // A listener that accepts and stays silent, as a database behind a
  // partition looks: libpq alone would wait for its answer forever.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  auto conninfo = "host=127.0.0.1 port=" + std::to_string(ntohs(addr.sin_port)) + " sslmode=disable";
  auto opened = std::async(std::launch::async, [&] { return storage::pg_store::open(conninfo); });
  // Bounded by the default connect timeout; should that ever be lost, the
  // listener closes after a minute so the test fails instead of hanging.
  bool answered = opened.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  CHECK(answered);
  auto s = opened.get();
  REQUIRE_FALSE(s);
  CHECK(s.error().code == errc::storage_unavailable);
}
