// The storage actor over a real SQLite file: commits and snapshots queued
// together share transactions, one bad commit fails only its requester, and
// snapshots are spaced out while edits commit.
#include "actors/storage_actor.hpp"
#include "storage/sqlite_store.hpp"
#include "tests/storage/faulty_store.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>
#include <unistd.h>

using namespace stet;

namespace {

storage::op_row op(const std::string& doc, std::uint64_t rev, const std::string& client) {
  return {doc, rev, "op", client, rev, 1000 + rev, 0, 0};
}

// A fresh SQLite file in its own folder, removed at the end.
struct temp_database {
  explicit temp_database(const std::string& name)
    : dir(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~temp_database() {
    std::filesystem::remove_all(dir);
  }
  std::string path() const {
    return (dir / "stet.db").string();
  }
  std::filesystem::path dir;
};

caf::actor_system_config& quiet(caf::actor_system_config& cfg) {
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

storage_api spawn_storage(caf::actor_system& sys, std::unique_ptr<storage::store> store) {
  return sys.spawn<caf::detached>(storage_actor, std::shared_ptr<storage::store>{std::move(store)},
                                  std::make_shared<node_health>());
}

} // namespace

TEST_CASE("storage actor: queued commits and snapshots all land; a bad commit fails alone") {
  temp_database db{"stet-storage-actor"};
  auto path = db.path();
  const std::vector<std::string> docs{"a", "b", "c", "d"};
  {
    auto store = storage::sqlite_store::open(path);
    REQUIRE(store);
    for (auto& id : docs) {
      storage::document_row row;
      row.id = id;
      REQUIRE((*store)->create_document(row));
    }
    REQUIRE((*store)->commit({.ops = {op("d", 1, "first")}}));
    caf::actor_system_config cfg;
    caf::actor_system sys{quiet(cfg)};
    auto storage = spawn_storage(sys, std::move(*store));
    {
      caf::scoped_actor self{sys};
      // Sent back to back, so most are queued before the first flush.
      std::vector<decltype(self->request(storage, caf::infinite, commit_atom::value,
                                         std::vector<storage::op_row>{},
                                         std::vector<storage::session_event>{}))>
        commits;
      for (auto& id : {"a", "b", "c"})
        commits.push_back(self->request(storage, caf::infinite, commit_atom::value,
                                        std::vector<storage::op_row>{op(id, 1, "x"), op(id, 2, "x")},
                                        std::vector<storage::session_event>{}));
      // Rev 1 of "d" belongs to another edit: this commit must fail.
      commits.push_back(self->request(storage, caf::infinite, commit_atom::value,
                                      std::vector<storage::op_row>{op("d", 1, "intruder")},
                                      std::vector<storage::session_event>{}));
      std::vector<decltype(self->request(storage, caf::infinite, snapshot_atom::value, storage::snapshot_row{}))>
        snapshots;
      for (auto& id : {"a", "b", "c"})
        snapshots.push_back(
          self->request(storage, caf::infinite, snapshot_atom::value, storage::snapshot_row{id, "xx", 2, 1}));
      for (std::size_t i = 0; i < commits.size(); ++i) {
        bool stored = false;
        commits[i].receive([&](caf::ok_atom) { stored = true; }, [&](caf::error&) { stored = false; });
        CHECK(stored == (i < 3));
      }
      for (auto& s : snapshots) {
        bool stored = false;
        s.receive([&](caf::ok_atom) { stored = true; }, [&](caf::error&) { stored = false; });
        CHECK(stored);
      }
    }
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  }
  auto store = storage::sqlite_store::open(path);
  REQUIRE(store);
  for (auto& id : {"a", "b", "c"}) {
    auto row = (*store)->find_document(id);
    REQUIRE((row && *row));
    CHECK((*row)->rev == 2);
    CHECK((*row)->snapshot_rev == 2);
    CHECK((*row)->content == "xx");
    auto ops = (*store)->ops_since(id, 0);
    REQUIRE(ops);
    REQUIRE(ops->size() == 1); // rev 1 compacted away
    CHECK((*ops)[0].rev == 2);
  }
  auto d = (*store)->ops_since("d", 0);
  REQUIRE(d);
  REQUIRE(d->size() == 1);
  CHECK((*d)[0].client_id == "first");
}

TEST_CASE("storage actor: snapshots behind a stream of commits are spaced out, and drain once it stops") {
  temp_database db{"stet-storage-spacing"};
  auto path = db.path();
  constexpr int snapshots = 10;
  auto store = storage::sqlite_store::open(path);
  REQUIRE(store);
  for (int i = 0; i <= snapshots; ++i) {
    storage::document_row row;
    row.id = i == snapshots ? "w" : "s" + std::to_string(i);
    REQUIRE((*store)->create_document(row));
  }
  // A second connection watches what is stored, as another process would.
  auto reader = storage::sqlite_store::open(path);
  REQUIRE(reader);
  auto stored = [&] {
    int n = 0;
    for (int i = 0; i < snapshots; ++i) {
      auto row = (*reader)->find_document("s" + std::to_string(i));
      REQUIRE((row && *row));
      n += (*row)->snapshot_rev == 1;
    }
    return n;
  };
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  auto storage = spawn_storage(sys, std::move(*store));
  {
    caf::scoped_actor self{sys};
    auto commit = [&](std::uint64_t rev) {
      return self->request(storage, caf::infinite, commit_atom::value, std::vector<storage::op_row>{op("w", rev, "w")},
                           std::vector<storage::session_event>{});
    };
    auto start = std::chrono::steady_clock::now();
    auto first = commit(1);
    std::vector<decltype(self->request(storage, caf::infinite, snapshot_atom::value, storage::snapshot_row{}))> snaps;
    for (int i = 0; i < snapshots; ++i)
      snaps.push_back(self->request(storage, caf::infinite, snapshot_atom::value,
                                    storage::snapshot_row{"s" + std::to_string(i), "text", 1, 0}));
    first.receive([](caf::ok_atom) {}, [](caf::error& e) { FAIL(to_string(e)); });
    // One edit at a time, each waiting for its commit: at most one snapshot
    // per 20 ms (the 250-edit allowance is never reached), where one per
    // transaction would have stored all ten within the first ten commits.
    for (std::uint64_t rev = 2; rev <= 41; ++rev) {
      commit(rev).receive([](caf::ok_atom) {}, [](caf::error& e) { FAIL(to_string(e)); });
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      CHECK(stored() <= 2 + static_cast<int>(ms / 20));
    }
    for (auto& s : snaps)
      s.receive([](caf::ok_atom) {}, [](caf::error& e) { FAIL(to_string(e)); });
    CHECK(stored() == snapshots);
  }
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

TEST_CASE("storage actor: a load queued behind a commit of the same document sees that commit") {
  // A document closed while its commit waited in the storage actor's
  // queue (a stuck store, the commit watchdog) is loaded again at once;
  // served before the commit, the new actor would reuse its revision.
  temp_database db{"stet-storage-load-order"};
  auto real = storage::sqlite_store::open(db.path());
  REQUIRE(real);
  for (auto* id : {"e", "busy"}) {
    storage::document_row row;
    row.id = id;
    REQUIRE((*real)->create_document(row));
  }
  auto store = std::make_unique<test::faulty_store>(std::move(*real));
  auto* fault = store.get();
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  auto storage = spawn_storage(sys, std::move(store));
  {
    caf::scoped_actor self{sys};
    // Keeps the actor busy, so the commit and the load queue up together.
    fault->stall_next_lookup(std::chrono::milliseconds(200));
    auto busy = self->request(storage, caf::infinite, load_atom::value, load_request{"busy"});
    auto commit = self->request(storage, caf::infinite, commit_atom::value,
                                std::vector<storage::op_row>{op("e", 1, "x")}, std::vector<storage::session_event>{});
    auto load = self->request(storage, caf::infinite, load_atom::value, load_request{"e"});
    busy.receive([](loaded_document&) {}, [](caf::error& e) { FAIL(to_string(e)); });
    std::uint64_t loaded_rev = 0;
    load.receive([&](loaded_document& d) { loaded_rev = d.row.rev; }, [](caf::error& e) { FAIL(to_string(e)); });
    CHECK(loaded_rev == 1);
    commit.receive([](caf::ok_atom) {}, [](caf::error& e) { FAIL(to_string(e)); });
  }
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

namespace {

using commit_handle = decltype(std::declval<caf::scoped_actor&>()->request(
  std::declval<storage_api&>(), caf::infinite, commit_atom::value, std::vector<storage::op_row>{},
  std::vector<storage::session_event>{}));

commit_handle write(caf::scoped_actor& self, const storage_api& storage, std::vector<storage::op_row> ops) {
  return self->request(storage, caf::infinite, commit_atom::value, std::move(ops),
                       std::vector<storage::session_event>{});
}

// The error code a write was answered with, or none (ok).
std::optional<errc> outcome(commit_handle& h) {
  std::optional<errc> out;
  h.receive([](caf::ok_atom) {}, [&](caf::error& e) { out = from_caf(e).code; });
  return out;
}

std::unique_ptr<test::faulty_store> faulty(const std::string& path, std::initializer_list<const char*> docs) {
  auto real = storage::sqlite_store::open(path);
  REQUIRE(real);
  for (auto* id : docs) {
    storage::document_row row;
    row.id = id;
    REQUIRE((*real)->create_document(row));
  }
  return std::make_unique<test::faulty_store>(std::move(*real));
}

} // namespace

TEST_CASE("storage actor: while the database is away, writes wait and then land in the order they were sent") {
  temp_database db{"stet-storage-retry"};
  auto store = faulty(db.path(), {"a", "b"});
  auto* fault = store.get();
  fault->fail_next_commits(3);
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  std::shared_ptr<storage::store> shared{std::move(store)};
  auto storage = sys.spawn<caf::detached>(storage_actor, shared, std::make_shared<node_health>());
  {
    caf::scoped_actor self{sys};
    std::vector<commit_handle> writes;
    for (std::uint64_t rev = 1; rev <= 3; ++rev) {
      writes.push_back(write(self, storage, {op("a", rev, "x")}));
      writes.push_back(write(self, storage, {op("b", rev, "y")}));
    }
    for (auto& w : writes)
      CHECK_FALSE(outcome(w));
    CHECK(fault->commits_tried() >= 4);
  }
  for (auto* id : {"a", "b"}) {
    auto ops = shared->ops_since(id, 0);
    REQUIRE(ops);
    REQUIRE(ops->size() == 3);
    CHECK(ops->back().rev == 3);
  }
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

TEST_CASE("storage actor: a write that cannot land refuses its document's later writes, never another's") {
  temp_database db{"stet-storage-refused"};
  auto store = faulty(db.path(), {"a", "b"});
  auto* fault = store.get();
  fault->refuse("b", 1);
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  std::shared_ptr<storage::store> shared{std::move(store)};
  auto storage = sys.spawn<caf::detached>(storage_actor, shared, std::make_shared<node_health>());
  {
    caf::scoped_actor self{sys};
    auto a1 = write(self, storage, {op("a", 1, "x")});
    auto b1 = write(self, storage, {op("b", 1, "y")});
    auto a2 = write(self, storage, {op("a", 2, "x")});
    CHECK_FALSE(outcome(a1));
    CHECK(outcome(b1) == errc::internal);
    CHECK_FALSE(outcome(a2));
    // Sent before b's owner heard: rev 2 would land behind a missing rev 1.
    auto b2 = write(self, storage, {op("b", 2, "y")});
    CHECK(outcome(b2) == errc::internal);
    // Loaded again (a new actor for b), its writes are taken again.
    fault->refuse_nothing();
    auto load = self->request(storage, caf::infinite, load_atom::value, load_request{"b"});
    load.receive([](loaded_document& d) { CHECK(d.row.rev == 0); }, [](caf::error& e) { FAIL(to_string(e)); });
    auto again = write(self, storage, {op("b", 1, "w")});
    CHECK_FALSE(outcome(again));
  }
  auto b = shared->ops_since("b", 0);
  REQUIRE(b);
  REQUIRE(b->size() == 1);
  CHECK(b->front().client_id == "w");
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

TEST_CASE("storage actor: a load while the database is away fails its own document's writes, not the others'") {
  temp_database db{"stet-storage-away-load"};
  auto store = faulty(db.path(), {"a", "b"});
  auto* fault = store.get();
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  std::shared_ptr<storage::store> shared{std::move(store)};
  auto storage = sys.spawn<caf::detached>(storage_actor, shared, std::make_shared<node_health>());
  {
    caf::scoped_actor self{sys};
    // Away for the writes' first try and for the load's flush.
    fault->fail_next_commits(2);
    fault->stall_next_lookup(std::chrono::milliseconds(100)); // the writes queue behind a busy actor
    auto busy = self->request(storage, caf::infinite, acl_atom::value, std::string{"a"});
    auto a1 = write(self, storage, {op("a", 1, "x")});
    auto b1 = write(self, storage, {op("b", 1, "y")});
    auto load = self->request(storage, caf::infinite, load_atom::value, load_request{"b"});
    busy.receive([](loaded_document&) {}, [](caf::error& e) { FAIL(to_string(e)); });
    load.receive([](loaded_document& d) { CHECK(d.row.rev == 0); }, [](caf::error& e) { FAIL(to_string(e)); });
    CHECK(outcome(b1) == errc::storage_unavailable); // it must not land after the read
    CHECK_FALSE(outcome(a1));                        // retried, and stored
  }
  auto a = shared->ops_since("a", 0);
  REQUIRE(a);
  CHECK(a->size() == 1);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}

TEST_CASE("storage actor: a snapshot is not kept while the database is away") {
  temp_database db{"stet-storage-away-snapshot"};
  auto store = faulty(db.path(), {"a"});
  auto* fault = store.get();
  fault->fail_next_commits(1);
  caf::actor_system_config cfg;
  caf::actor_system sys{quiet(cfg)};
  auto storage = spawn_storage(sys, std::move(store));
  {
    caf::scoped_actor self{sys};
    auto snap = self->request(storage, caf::infinite, snapshot_atom::value, storage::snapshot_row{"a", "text", 0, 0});
    std::optional<errc> code;
    snap.receive([](caf::ok_atom) {}, [&](caf::error& e) { code = from_caf(e).code; });
    CHECK(code == errc::storage_unavailable); // answered at once: the document asks again later
  }
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
}
