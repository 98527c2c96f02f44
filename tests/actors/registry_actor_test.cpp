// The actors together, for real: registry, document actors and the storage
// actor over a SQLite file, with sessions faked as sinks that record frames.
#include "actors/registry_actor.hpp"
#include "actors/storage_actor.hpp"
#include "storage/sqlite_store.hpp"
#include "tests/support/actor_fixture.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unistd.h>

using namespace stet;
using namespace std::chrono_literals;

namespace {

/// How many documents the registry has open, on the deterministic scheduler.
std::uint64_t open_documents(stet::test::actor_fixture& f, const registry_api& registry) {
  f.self->send(registry, stats_atom::value);
  f.run();
  std::uint64_t open = 99;
  f.self->receive([&](std::uint64_t n, std::uint64_t) { open = n; }, caf::after(0s) >> [] { FAIL("no stats"); });
  return open;
}

class threaded_sink : public session_sink {
public:
  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }
  void send(std::shared_ptr<const std::string> frame) override {
    auto m = wire::decode_server(*frame, wire::frame_format::binary);
    REQUIRE(m);
    std::lock_guard<std::mutex> guard{mutex_};
    messages_.push_back(std::move(*m));
  }
  void send(std::vector<std::shared_ptr<const std::string>> frames) override {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      ++handovers_;
    }
    for (auto& f : frames)
      send(std::move(f));
  }
  using session_sink::send;

  std::vector<wire::ServerMessage> messages() {
    std::lock_guard<std::mutex> guard{mutex_};
    return messages_;
  }
  /// How many times the sink was handed several frames at once.
  int handovers() {
    std::lock_guard<std::mutex> guard{mutex_};
    return handovers_;
  }
  std::vector<wire::Presence> presences() {
    std::vector<wire::Presence> out;
    for (auto& m : messages())
      if (m.has_presence())
        out.push_back(m.presence());
    return out;
  }
  /// Waits up to 10 s for a message matching `pred`.
  template <class Predicate>
  std::optional<wire::ServerMessage> wait_for(Predicate pred) {
    for (int i = 0; i < 1000; ++i) {
      for (auto& m : messages())
        if (pred(m))
          return m;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

private:
  std::mutex mutex_;
  std::vector<wire::ServerMessage> messages_;
  int handovers_ = 0;
};

struct fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("stet-actors-" + std::to_string(::getpid()));
  std::string db;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  storage_api storage;
  registry_api registry;

  fixture() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db = (dir / "stet.db").string();
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    auto store = storage::sqlite_store::open(db);
    REQUIRE(store);
    storage = sys->spawn<caf::detached>(storage_actor, std::shared_ptr<storage::store>{std::move(*store)},
                                        std::make_shared<node_health>());
    registry_config rc;
    rc.document.idle_timeout = 50ms;
    rc.document.cursor_interval = 50ms;
    rc.document.roster_interval = 500ms;
    registry = sys->spawn(registry_actor, std::vector<storage_api>{storage}, rc);
  }
  ~fixture() {
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
    // Handles keep actors alive: drop them before the system waits for its threads.
    registry = registry_api{};
    storage = storage_api{};
    sys.reset();
    std::filesystem::remove_all(dir);
  }

  join_request join(const std::string& doc, const std::string& client, std::shared_ptr<threaded_sink> sink,
                    const caf::actor& gateway) {
    return join_request{doc,  "lww", 0, false, client, "session-" + client, 0, {},
                        sink, caf::actor_cast<session_api>(gateway), {}, "ip:test"};
  }

  std::pair<std::uint64_t, std::uint64_t> stats() {
    caf::scoped_actor self{*sys};
    std::pair<std::uint64_t, std::uint64_t> out;
    self->request(registry, caf::infinite, stats_atom::value)
      .receive([&](std::uint64_t open, std::uint64_t loads) { out = {open, loads}; },
               [&](caf::error&) { FAIL("stats failed"); });
    return out;
  }
};

} // namespace

TEST_CASE("a hundred simultaneous cold joins read storage once, edits ack after commit, idle documents stop") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  std::vector<std::shared_ptr<threaded_sink>> sinks;
  std::vector<caf::actor> gateways;
  for (int i = 0; i < 100; ++i) {
    sinks.push_back(std::make_shared<threaded_sink>());
    // Any live actor stands in for the session's gateway actor.
    gateways.push_back(f.sys->spawn([]() -> caf::behavior {
      return {[](int) {}};
    }));
    self->send(f.registry, join_atom::value, f.join("cold", "c" + std::to_string(i), sinks.back(), gateways.back()));
  }
  document_api doc;
  for (int i = 0; i < 100; ++i)
    self->receive([&](joined& d) { doc = d.document; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(f.stats() == std::pair<std::uint64_t, std::uint64_t>{1, 1});
  for (auto& s : sinks)
    CHECK(s->wait_for([](auto& m) { return m.has_snapshot(); }));

  // An edit is acked only once it is in the database.
  self->send(doc, edit_atom::value, edit_request{{"c0", 0, 1, 0, operation{}.insert("durable")}, "session-c0", 0, {}, {}});
  auto ack = sinks[0]->wait_for([](auto& m) { return m.has_ack(); });
  REQUIRE(ack);
  CHECK(ack->ack().rev() == 1);
  {
    auto reader = storage::sqlite_store::open(f.db);
    REQUIRE(reader);
    auto ops = (*reader)->ops_since("cold", 0);
    REQUIRE(ops);
    CHECK(ops->size() == 1);
  }
  // Everyone else hears of it; the author does not (no echo).
  CHECK(sinks[1]->wait_for([](auto& m) { return m.has_applied() && m.applied().rev() == 1; }));
  for (auto& m : sinks[0]->messages())
    CHECK_FALSE(m.has_applied());

  // When everyone has gone, the document flushes a snapshot and stops.
  for (auto& g : gateways)
    caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
  for (int i = 0; i < 500 && f.stats().first != 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(f.stats().first == 0);
  auto reader = storage::sqlite_store::open(f.db);
  REQUIRE(reader);
  auto row = (*reader)->find_document("cold");
  REQUIRE(row);
  REQUIRE(row->has_value());
  CHECK((*row)->content == "durable");
  CHECK((*row)->snapshot_rev == 1);

  // The next join loads it again, from the snapshot.
  auto sink = std::make_shared<threaded_sink>();
  self->request(f.registry, caf::infinite, join_atom::value, f.join("cold", "late", sink, gateways[0]))
    .receive([](joined&) {}, [](caf::error& e) { FAIL(caf::to_string(e)); });
  auto snap = sink->wait_for([](auto& m) { return m.has_snapshot(); });
  REQUIRE(snap);
  CHECK(snap->snapshot().text() == "durable");
  CHECK(snap->snapshot().rev() == 1);
  CHECK(f.stats().second == 2);
}

TEST_CASE("presence: a burst of joins reaches each subscriber in one hand-over; cursors and leaves follow") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gateway = f.sys->spawn([]() -> caf::behavior { return {[](int) {}}; });
  std::vector<std::shared_ptr<threaded_sink>> sinks;
  document_api doc;
  auto join = [&](int i) {
    sinks.push_back(std::make_shared<threaded_sink>());
    self->request(f.registry, caf::infinite, join_atom::value, f.join("room", "c" + std::to_string(i), sinks.back(), gateway))
      .receive([&](joined& d) { doc = d.document; }, [](caf::error& e) { FAIL(caf::to_string(e)); });
  };
  join(0);
  for (int i = 1; i <= 8; ++i)
    join(i);
  auto& first = sinks[0];
  auto heard_all = [&] { return first->presences().size() >= 8; };
  for (int i = 0; i < 500 && !heard_all(); ++i)
    std::this_thread::sleep_for(10ms);
  auto heard = first->presences();
  REQUIRE(heard.size() == 8);
  std::set<std::string> clients;
  for (auto& p : heard) {
    clients.insert(p.client_id());
    CHECK_FALSE(p.left());
    CHECK_FALSE(p.has_cursor());
  }
  CHECK(clients.size() == 8); // each joiner once, never c0 itself
  // Unbatched, that was eight frames; joins within one roster interval share one.
  CHECK(first->handovers() <= 2);
  // The last joiner learned everyone from its snapshot's participants.
  auto snap = sinks[8]->wait_for([](auto& m) { return m.has_snapshot(); });
  REQUIRE(snap);
  CHECK(snap->snapshot().participants_size() == 9);

  self->send(doc, presence_atom::value, std::string{}, std::string{"session-c3"}, std::uint32_t{0}, std::uint32_t{0});
  CHECK(first->wait_for([](auto& m) { return m.has_presence() && m.presence().client_id() == "c3" && m.presence().has_cursor(); }));
  self->send(doc, leave_atom::value, std::string{"session-c5"});
  CHECK(first->wait_for([](auto& m) { return m.has_presence() && m.presence().client_id() == "c5" && m.presence().left(); }));
  for (auto& p : sinks[3]->presences())
    CHECK(p.client_id() != "c3"); // nobody hears their own presence
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(stet::test::actor_fixture,
                  "a revoke stored while the document loads is applied before the joins that waited for the load") {
  auto script = std::make_shared<stet::test::store_script>();
  script->commit_at_once = true;
  auto store = spawn(stet::test::scripted_store, script);
  registry_config rc;
  rc.document.access_refresh = 1h; // the join must not be saved by a fresh read
  auto registry = spawn(registry_actor, std::vector<storage_api>{caf::actor_cast<storage_api>(store)}, rc);
  auto sink = std::make_shared<stet::test::recording_sink>();
  join_request req{"d", "lww", 0, false, "c2", "s2", 2, "user2", sink, caf::actor_cast<session_api>(self), {}};
  self->send(registry, join_atom::value, std::move(req));
  run();
  REQUIRE(script->loads.size() == 1);
  // The load read user 2 as an editor; the owner revoked them (version 2)
  // before the answer came back.
  self->send(registry, acl_atom::value, std::string{"d"}, std::int64_t{2}, std::string{}, std::uint64_t{2});
  run();
  loaded_document loaded;
  loaded.row.id = "d";
  loaded.row.owner_id = 1;
  loaded.acl.version = 1;
  loaded.acl.entries.push_back(storage::acl_row{2, "user2", "editor"});
  answer_load(store, std::move(loaded));
  errc code = errc::internal;
  self->receive([&](joined&) { FAIL("joined after the revoke"); }, [&](caf::error& err) { code = from_caf(err).code; },
                caf::after(0s) >> [] { FAIL("the join was not answered"); });
  CHECK(code == errc::forbidden);
  CHECK_FALSE(sink->has_snapshot()); // not a glimpse of the text
}

TEST_CASE_FIXTURE(stet::test::actor_fixture,
                  "a delete stored while the document loads answers the waiting joins unknown_document") {
  auto script = std::make_shared<stet::test::store_script>();
  auto store = spawn(stet::test::scripted_store, script);
  auto registry = spawn(registry_actor, std::vector<storage_api>{caf::actor_cast<storage_api>(store)},
                            registry_config{});
  auto sink = std::make_shared<stet::test::recording_sink>();
  join_request req{"d", "lww", 0, false, "c2", "s2", 0, {}, sink, caf::actor_cast<session_api>(self), {}};
  self->send(registry, join_atom::value, std::move(req));
  run();
  self->send(registry, drop_atom::value, std::string{"d"});
  run();
  loaded_document loaded;
  loaded.row.id = "d";
  answer_load(store, std::move(loaded));
  errc code = errc::internal;
  self->receive([&](joined&) { FAIL("joined a deleted document"); }, [&](caf::error& err) { code = from_caf(err).code; },
                caf::after(0s) >> [] { FAIL("the join was not answered"); });
  CHECK(code == errc::unknown_document);
  CHECK_FALSE(sink->has_snapshot());
}

namespace {

/// A registry over a scripted store that answers commits at once, with
/// sessions of another node ("n2") joining and leaving document "d".
struct remote_sessions : stet::test::actor_fixture {
  std::shared_ptr<stet::test::store_script> script = std::make_shared<stet::test::store_script>();
  caf::actor store;
  registry_api registry;
  std::shared_ptr<stet::test::recording_sink> sink = std::make_shared<stet::test::recording_sink>();
  loaded_document loaded;

  void start(std::optional<std::chrono::milliseconds> access_refresh = {}) {
    script->commit_at_once = true;
    store = spawn(stet::test::scripted_store, script);
    registry_config rc;
    rc.document.idle_timeout = 1s;
    if (access_refresh)
      rc.document.access_refresh = *access_refresh;
    registry = spawn(registry_actor, std::vector<storage_api>{caf::actor_cast<storage_api>(store)}, rc);
    loaded.row.id = "d";
  }

  void join(const std::string& session) {
    self->send(registry, join_atom::value,
               join_request{"d", "lww", 0, false, "c-" + session, session, 0, {}, sink, session_api{}, "n2",
                                            "ip:n2"});
    run();
  }

  void leave(const std::string& session) {
    self->send(registry, leave_atom::value, std::string{"d"}, std::string{"n2"}, session);
    run();
  }

  /// The first join: loads the document and is admitted.
  void open_with(const std::string& session) {
    join(session);
    answer_load(store, loaded);
    self->receive([&](joined&) {}, [&](caf::error&) { FAIL("join failed"); },
                  caf::after(0s) >> [] { FAIL("no answer"); });
  }

  /// What the next join was answered: "joined", an error code, or "none".
  std::string join_answer() {
    std::string answer = "none";
    self->receive([&](joined&) { answer = "joined"; },
                  [&](caf::error& err) { answer = std::string{to_string(from_caf(err).code)}; },
                  caf::after(0s) >> [] {});
    return answer;
  }
};

} // namespace

TEST_CASE_FIXTURE(remote_sessions,
                  "a session of another node that joins, leaves and joins again while the document loads stays joined") {
  start();
  join("s7");
  REQUIRE(script->loads.size() == 1);
  leave("s7");
  join("s7");
  // Still one load, so one document actor: a second would take the lease
  // from the first and never be let stop.
  CHECK(script->loads.size() == 1);
  answer_load(store, loaded);
  std::vector<std::string> answers{join_answer(), join_answer()};
  // The first join answers not_joined (its session left); the second stands.
  CHECK(answers == std::vector<std::string>({"not_joined", "joined"}));
  leave("s7");
  advance(2s);
  advance(2s);
  CHECK(open_documents(*this, registry) == 0);
}

TEST_CASE_FIXTURE(remote_sessions,
                  "a document stops once idle after a session of another node left while its join waited") {
  start(1s);
  open_with("s7");
  advance(2s); // what the document knows of its access is old now: the next join waits for a read
  join("s8");
  REQUIRE(script->access_reads.size() == 1);
  leave("s8");
  answer_access(store, loaded);
  leave("s7");
  advance(2s);
  advance(2s);
  CHECK(open_documents(*this, registry) == 0);
}

TEST_CASE_FIXTURE(remote_sessions,
                  "a document whose idle check comes while a join waits for the access read stays open for it") {
  start(100ms);
  open_with("s7");
  leave("s7"); // the idle check is due in 1 s
  advance(500ms);
  join("s8"); // waits for a fresh access read
  REQUIRE(script->access_reads.size() == 1);
  for (int i = 0; i < 4; ++i) // idle checks come while the join waits (its read times out only after 5 s)
    advance(800ms);
  CHECK(open_documents(*this, registry) == 1);
  answer_access(store, loaded);
  CHECK(join_answer() == "joined");
}
