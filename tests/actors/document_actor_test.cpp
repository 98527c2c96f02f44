// The document actor against a storage actor the test controls: each reply
// is held until the test releases it, so orderings that real storage
// produces only by chance happen here every time.
#include "actors/document_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <memory>

using namespace stet;
using namespace std::chrono_literals;

namespace {

class null_sink : public session_sink {
public:
  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }
  void send(std::shared_ptr<const std::string>) override {
  }
  using session_sink::send;
};

// Reports every error frame to `watcher` as its code's name.
class error_sink : public session_sink {
public:
  explicit error_sink(caf::actor watcher) : watcher_(std::move(watcher)) {
  }
  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }
  void send(std::shared_ptr<const std::string> frame) override {
    auto m = wire::decode_server(*frame, wire::frame_format::binary);
    if (m && m->has_error())
      caf::anon_send(watcher_, std::string{m->error().code()});
  }
  using session_sink::send;

private:
  caf::actor watcher_;
};

using released_atom = caf::atom_constant<caf::atom("released")>;
using admitted_atom = caf::atom_constant<caf::atom("admitted")>;

struct held_store_state {
  caf::response_promise access_reply;
  std::vector<caf::response_promise> commits; // never answered
};

// Commits succeed at once (or, with `hold_commits`, never answer); an
// access read waits for (run_atom, rows) and answers with them, after
// telling `watcher` that it was asked.
caf::behavior held_store(caf::stateful_actor<held_store_state>* self, caf::actor watcher, bool hold_commits) {
  return {
    [=](acl_atom, const std::string&) -> caf::result<loaded_document> {
      self->state.access_reply = self->make_response_promise();
      self->send(watcher, acl_atom::value);
      return caf::delegated<loaded_document>{};
    },
    [=](run_atom, loaded_document& answer) {
      self->state.access_reply.deliver(std::move(answer));
      self->send(watcher, released_atom::value);
    },
    [=](commit_atom, std::vector<storage::op_row>&, std::vector<storage::session_event>&) -> caf::result<caf::ok_atom> {
      if (!hold_commits)
        return caf::ok_atom::value;
      self->state.commits.push_back(self->make_response_promise());
      return caf::delegated<caf::ok_atom>{};
    },
    [=](snapshot_atom, storage::snapshot_row&) { return caf::ok_atom::value; },
  };
}

caf::behavior ignoring_registry(caf::event_based_actor* self) {
  self->set_default_handler(caf::drop);
  return {[](idle_atom, const std::string&, std::uint64_t) { return caf::ok_atom::value; }};
}

// Joins `doc` as `user_id` and reports to `watcher`: admitted_atom, or the
// stet error code of the refusal.
caf::behavior joining_client(caf::event_based_actor* self, caf::actor doc, std::int64_t user_id,
                             caf::actor watcher) {
  join_request req{"d", "lww", 0, false, "c" + std::to_string(user_id), "s" + std::to_string(user_id), user_id,
                   "user" + std::to_string(user_id), std::make_shared<null_sink>(), caf::actor_cast<caf::actor>(self),
                   {}};
  self->request(doc, 5s, join_atom::value, std::move(req))
    .then([=](caf::actor&) { self->send(watcher, admitted_atom::value); },
          [=](caf::error& err) { self->send(watcher, static_cast<int>(from_caf(err).code)); });
  return {[](caf::ok_atom) {}};
}

// An actor system with a test actor that receives what the actors report.
struct actor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<caf::scoped_actor> test;
  actor_fixture() {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    test = std::make_unique<caf::scoped_actor>(*sys);
  }
  caf::actor spawn_document(const caf::actor& store, const caf::actor& registry, auth::document_access access,
                            document_actor_config config) {
    return sys->spawn(document_actor, std::make_shared<document>("d", conflict_policy::lww, document_limits{}),
                      std::string{"d"}, std::move(access), std::uint64_t{0}, store, registry, config);
  }
};

} // namespace

TEST_CASE("a revoke heard while an access re-read is in flight is not undone by the read's older answer") {
  actor_fixture f;
  auto& sys = *f.sys;
  auto& test = *f.test;
  auto store = sys.spawn(held_store, caf::actor{test}, false);
  auto registry = sys.spawn(ignoring_registry);
  document_actor_config config;
  config.access_refresh = 0ms; // every join re-reads
  auto doc = f.spawn_document(store, registry, auth::document_access{1, false, {{2, auth::role::editor}}, 5}, config);

  auto client = sys.spawn(joining_client, doc, std::int64_t{2}, caf::actor{test});
  test->receive([](acl_atom) {}, caf::after(5s) >> [] { FAIL("the join did not ask for access"); });
  // The owner revokes user 2 (version 7) after the read began; the read's
  // answer (version 6) was taken before the revoke reached the database.
  test->send(doc, acl_atom::value, std::int64_t{2}, std::string{}, std::uint64_t{7});
  loaded_document stale;
  stale.row.id = "d";
  stale.row.owner_id = 1;
  stale.acl.version = 6;
  stale.acl.entries.push_back(storage::acl_row{2, "user2", "editor"});
  test->send(store, run_atom::value, std::move(stale));
  test->receive([](released_atom) {}, caf::after(5s) >> [] { FAIL("the store did not answer"); });

  bool refused = false;
  test->receive([&](admitted_atom) { refused = false; },
                [&](int code) { refused = static_cast<errc>(code) == errc::forbidden; },
                caf::after(5s) >> [] { FAIL("the join was never answered"); });
  CHECK(refused);

  for (auto& a : {doc, store, registry, client})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("a grant delayed on the bus does not undo the revoke stored after it") {
  actor_fixture f;
  auto& sys = *f.sys;
  auto& test = *f.test;
  auto store = sys.spawn(held_store, caf::actor{test}, false);
  auto registry = sys.spawn(ignoring_registry);
  document_actor_config config;
  config.access_refresh = 1h; // joins use what the document knows
  auto doc = f.spawn_document(store, registry, auth::document_access{1, false, {}, 5}, config);
  // Two nodes stored a grant (6) and then its revoke (7); the revoke's
  // publisher was faster.
  test->send(doc, acl_atom::value, std::int64_t{2}, std::string{}, std::uint64_t{7});
  test->send(doc, acl_atom::value, std::int64_t{2}, std::string{"editor"}, std::uint64_t{6});
  auto client = sys.spawn(joining_client, doc, std::int64_t{2}, caf::actor{test});
  bool refused = false;
  test->receive([&](admitted_atom) { refused = false; },
                [&](int code) { refused = static_cast<errc>(code) == errc::forbidden; },
                caf::after(5s) >> [] { FAIL("the join was never answered"); });
  CHECK(refused);
  // A newer grant does count.
  test->send(doc, acl_atom::value, std::int64_t{2}, std::string{"editor"}, std::uint64_t{8});
  auto again = sys.spawn(joining_client, doc, std::int64_t{2}, caf::actor{test});
  bool admitted = false;
  test->receive([&](admitted_atom) { admitted = true; }, [&](int) { admitted = false; },
                caf::after(5s) >> [] { FAIL("the join was never answered"); });
  CHECK(admitted);
  for (auto& a : {doc, store, registry, client, again})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("a commit the store never answers closes the document with an error instead of waiting for good") {
  actor_fixture f;
  auto& sys = *f.sys;
  auto& test = *f.test;
  auto store = sys.spawn(held_store, caf::actor{test}, true);
  auto registry = sys.spawn(ignoring_registry);
  document_actor_config config;
  config.commit_timeout = 200ms;
  auto doc = f.spawn_document(store, registry, auth::document_access{}, config);
  join_request req{"d", "lww", 0, false, "c1", "s1", 0, {}, std::make_shared<error_sink>(caf::actor{test}),
                   caf::actor{test}, {}};
  test->request(doc, 5s, join_atom::value, std::move(req))
    .receive([](caf::actor&) {}, [](caf::error&) { FAIL("the join was refused"); });
  edit_request edit;
  edit.client_id = "c1";
  edit.session_id = "s1";
  edit.client_seq = 1;
  edit.op.insert("never confirmed");
  test->send(doc, edit_atom::value, std::move(edit));
  std::string code;
  bool timed_out = false;
  test->receive_while([&] { return code != "storage_unavailable" && !timed_out; })(
    [&](std::string& c) { code = c; }, [](caf::down_msg&) {}, [](drop_atom, const std::string&) {},
    caf::after(10s) >> [&] { timed_out = true; });
  CHECK(code == "storage_unavailable");
  for (auto& a : {doc, store, registry})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("a revoke whose bus message was lost holds at the next periodic re-read, with no join") {
  actor_fixture f;
  auto& sys = *f.sys;
  auto& test = *f.test;
  auto store = sys.spawn(held_store, caf::actor{test}, false);
  auto registry = sys.spawn(ignoring_registry);
  document_actor_config config;
  config.access_refresh = 1h;         // the join uses what the document knows
  config.access_recheck = 100ms;      // and the document reads it again soon
  auto doc = f.spawn_document(store, registry, auth::document_access{1, false, {{2, auth::role::editor}}, 5}, config);
  join_request req{"d", "lww", 0, false, "c2", "s2", 2, "user2", std::make_shared<error_sink>(caf::actor{test}),
                   caf::actor{test}, {}};
  test->request(doc, 5s, join_atom::value, std::move(req))
    .receive([](caf::actor&) {}, [](caf::error&) { FAIL("the join was refused"); });
  // The revoke was stored (version 6) but its node died before publishing.
  test->receive([](acl_atom) {}, caf::after(5s) >> [] { FAIL("the document never read its access again"); });
  loaded_document now;
  now.row.id = "d";
  now.row.owner_id = 1;
  now.acl.version = 6;
  test->send(store, run_atom::value, std::move(now));
  std::string code;
  bool timed_out = false;
  test->receive_while([&] { return code != "forbidden" && !timed_out; })(
    [&](std::string& c) { code = c; }, [](released_atom) {}, [](drop_atom, const std::string&) {},
    caf::after(10s) >> [&] { timed_out = true; });
  CHECK(code == "forbidden");
  for (auto& a : {doc, store, registry})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}
