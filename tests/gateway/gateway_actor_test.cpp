// One WebSocket session's actor on CAF's deterministic scheduler, between
// a recording sink and a scripted registry and document: what reaches the
// document carries the server's identity, messages wait for their join,
// bad input gets an error the session survives, tokens expire.
#include "gateway/gateway_actor.hpp"

#include "actors/fanout.hpp"
#include "auth/token.hpp"
#include "tests/support/actor_fixture.hpp"

#include <nlohmann/json.hpp>

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using answer_atom = caf::atom_constant<caf::atom("answer")>;

/// What the scripted registry and document were sent.
struct routed {
  std::vector<join_request> joins;
  std::vector<caf::response_promise> join_promises;
  std::vector<edit_request> edits;
  std::vector<std::string> leaves;
};

caf::behavior scripted_document(caf::event_based_actor* self, std::shared_ptr<routed> log) {
  return {
    // Tells `session` the document moved, as a document it joined would.
    [=](answer_atom, moved_atom, caf::actor& session, std::string& doc, std::uint64_t rev) {
      self->send(session, moved_atom::value, std::move(doc), rev);
    },
    [=](edit_atom, edit_request& e) { log->edits.push_back(std::move(e)); },
    [=](leave_atom, const std::string& session) { log->leaves.push_back(session); },
    [=](presence_atom, const std::string&, const std::string&, std::uint32_t, std::uint32_t) {},
  };
}

// Holds each join until the test answers it: (answer_atom, doc) admits it
// to `doc`, (answer_atom, error) refuses it.
caf::behavior scripted_registry(caf::event_based_actor* self, std::shared_ptr<routed> log) {
  return {
    [=](join_atom, join_request& req) {
      log->joins.push_back(std::move(req));
      log->join_promises.push_back(self->make_response_promise());
    },
    [=](answer_atom, caf::actor& doc) {
      auto rp = std::move(log->join_promises.front());
      log->join_promises.erase(log->join_promises.begin());
      rp.deliver(joined{caf::actor_cast<document_api>(doc)});
    },
    [=](answer_atom, caf::error& err) {
      auto rp = std::move(log->join_promises.front());
      log->join_promises.erase(log->join_promises.begin());
      rp.deliver(std::move(err));
    },
  };
}

struct gateway_fixture : actor_fixture {
  std::shared_ptr<routed> log = std::make_shared<routed>();
  caf::actor registry = spawn(scripted_registry, log);
  caf::actor document = spawn(scripted_document, log);
  std::shared_ptr<recording_sink> sink = std::make_shared<recording_sink>();
  std::shared_ptr<auth::token_signer> signer =
    std::make_shared<auth::token_signer>("gateway-test-signing-key-0123456789abcdef");
  caf::actor session;

  void start(bool anonymous = true, gateway_limits limits = {}) {
    gateway_settings settings;
    settings.limits = limits;
    settings.session_id = "n1-1";
    settings.node_id = "n1";
    settings.signer = signer;
    settings.allow_anonymous = anonymous;
    settings.user_edits = std::make_shared<auth::keyed_limiter>(1000, 2000);
    settings.client_ip = "127.0.0.1";
    session = spawn(gateway_actor, session_sink_ptr{sink}, caf::actor_cast<registry_api>(registry), settings);
    run();
  }

  void say(const json& message) {
    self->send(session, frame_atom::value, message.dump(), false, read_credit{});
    run();
  }

  void admit_join() {
    self->send(registry, answer_atom::value, document);
    run();
  }
};

json edit_of(const std::string& doc, std::uint64_t seq, std::uint64_t base, const std::string& text) {
  return {{"edit", {{"docId", doc}, {"clientSeq", seq}, {"baseRev", base}, {"ops", {{{"insert", text}}}}}}};
}

} // namespace

TEST_CASE_FIXTURE(gateway_fixture, "a join and its edits reach the document under the identity the server gave") {
  start();
  say({{"hello", {{"clientId", "laptop"}}}});
  std::string client_id;
  for (auto& m : sink->messages)
    if (m.has_welcome())
      client_id = m.welcome().client_id();
  CHECK(client_id.rfind("anon-", 0) == 0); // an anonymous client id is a secret; others see this
  say({{"join", {{"docId", "notes"}}}});
  REQUIRE(log->joins.size() == 1);
  CHECK(log->joins[0].doc_id == "notes");
  CHECK(log->joins[0].client_id == client_id);
  CHECK(log->joins[0].session_id == "n1-1");
  CHECK(log->joins[0].creator == "ip:127.0.0.1");
  admit_join();
  say(edit_of("notes", 1, 0, "hi"));
  REQUIRE(log->edits.size() == 1);
  CHECK(log->edits[0].client_id == client_id);
  CHECK(log->edits[0].user_id == 0);
  CHECK(log->edits[0].client_seq == 1);
}

TEST_CASE_FIXTURE(gateway_fixture, "messages for a document whose join is under way wait for it, in order") {
  start();
  say({{"join", {{"docId", "notes"}}}});
  say(edit_of("notes", 1, 0, "a"));
  say(edit_of("notes", 2, 1, "b"));
  CHECK(log->edits.empty());
  admit_join();
  REQUIRE(log->edits.size() == 2);
  CHECK(log->edits[0].client_seq == 1);
  CHECK(log->edits[1].client_seq == 2);
}

TEST_CASE_FIXTURE(gateway_fixture, "bad input gets an error naming it, and the session goes on") {
  start();
  say(edit_of("notes", 1, 0, "x"));
  CHECK(sink->errors() == std::vector<std::string>{"not_joined"});
  self->send(session, frame_atom::value, std::string{"{not json"}, false, read_credit{});
  run();
  CHECK(sink->errors().back() == "bad_message");
  say({{"join", {{"docId", "bad id/with slash"}}}});
  CHECK(sink->errors().back() == "invalid_argument");
  say({{"join", {{"docId", "notes"}}}});
  admit_join();
  say(edit_of("notes", 1, 0, "fine"));
  CHECK(log->edits.size() == 1);
}

TEST_CASE_FIXTURE(gateway_fixture, "a join the registry refuses is reported with its code, and nothing is joined") {
  start();
  say({{"join", {{"docId", "secret"}}}});
  self->send(registry, answer_atom::value, to_caf(make_error(errc::forbidden, "you may not open document secret")));
  run();
  CHECK(sink->errors() == std::vector<std::string>{"forbidden"});
  say(edit_of("secret", 1, 0, "x"));
  CHECK(sink->errors().back() == "not_joined");
  CHECK(log->edits.empty());
}

TEST_CASE_FIXTURE(gateway_fixture, "a session whose token expires is told and leaves every document it joined") {
  start(false);
  auto token = signer->issue({42, "alice", auth::unix_now() + 30, 0});
  say({{"hello", {{"token", token}}}});
  say({{"join", {{"docId", "notes"}}}});
  REQUIRE(log->joins.size() == 1);
  CHECK(log->joins[0].user_id == 42);
  CHECK(log->joins[0].username == "alice");
  admit_join();
  advance(31s);
  CHECK(sink->errors() == std::vector<std::string>{"token_expired"});
  CHECK(log->leaves == std::vector<std::string>{"n1-1"});
  say(edit_of("notes", 1, 0, "late"));
  CHECK(sink->errors().back() == "token_expired");
  CHECK(log->edits.empty());
}

TEST_CASE_FIXTURE(gateway_fixture, "after an edit refused for now, later edits wait for its resend") {
  gateway_limits limits;
  limits.max_messages_while_joining = 2;
  start(true, limits);
  say({{"join", {{"docId", "notes"}}}});
  say(edit_of("notes", 1, 0, "a"));
  say(edit_of("notes", 2, 0, "b"));
  say(edit_of("notes", 3, 0, "c")); // the queue is full: refused for now
  CHECK(sink->errors() == std::vector<std::string>{"rate_limited"});
  admit_join();
  REQUIRE(log->edits.size() == 2);
  // Had 4 gone on, the resent 3 would look like a duplicate of an older
  // edit: acked, never applied.
  say(edit_of("notes", 4, 0, "d"));
  CHECK(sink->errors() == std::vector<std::string>{"rate_limited", "out_of_order"});
  CHECK(log->edits.size() == 2);
  say(edit_of("notes", 3, 0, "c"));
  say(edit_of("notes", 4, 0, "d"));
  REQUIRE(log->edits.size() == 4);
  CHECK(log->edits[2].client_seq == 3);
  CHECK(log->edits[3].client_seq == 4);
  CHECK(sink->errors().size() == 2);
}

TEST_CASE_FIXTURE(gateway_fixture, "a rate-limited edit holds back the session's later edits of that document only") {
  gateway_limits limits;
  limits.edits_per_second_per_session = 1; // a burst of 2
  start(true, limits);
  say({{"join", {{"docId", "notes"}}}});
  admit_join();
  say({{"join", {{"docId", "other"}}}});
  admit_join();
  say(edit_of("notes", 1, 0, "a"));
  say(edit_of("notes", 2, 0, "b"));
  say(edit_of("notes", 3, 0, "c"));
  say(edit_of("notes", 4, 0, "d"));
  CHECK(sink->errors() == std::vector<std::string>{"rate_limited", "out_of_order"});
  say(edit_of("other", 9, 0, "x")); // not held back, only rate limited
  CHECK(sink->errors().back() == "rate_limited");
  say({{"leave", {{"docId", "notes"}}}}); // leaving gives the refused edits up
  say({{"join", {{"docId", "notes"}}}});
  admit_join();
  say(edit_of("notes", 5, 0, "e"));
  CHECK(sink->errors().back() == "rate_limited"); // not out_of_order
  CHECK(log->edits.size() == 2);
}

TEST_CASE_FIXTURE(gateway_fixture, "a moved document is joined again quietly from the session's revision, with its unanswered edits") {
  start();
  say({{"join", {{"docId", "notes"}}}});
  admit_join();
  say(edit_of("notes", 1, 0, "a"));
  say(edit_of("notes", 2, 0, "b"));
  REQUIRE(log->edits.size() == 2);
  log->joins[0].sink->send(ack_message("notes", 1, 1, 0)); // answered, as a document acks
  // Only what the session is joined to speaks for the document.
  self->send(session, moved_atom::value, std::string{"notes"}, std::uint64_t{7});
  run();
  CHECK(log->joins.size() == 1);
  self->send(document, answer_atom::value, moved_atom::value, session, std::string{"notes"}, std::uint64_t{1});
  run();
  REQUIRE(log->joins.size() == 2);
  CHECK(log->joins[1].quiet);
  CHECK(log->joins[1].known_rev == 1);
  say(edit_of("notes", 3, 1, "c")); // waits for the re-attach
  CHECK(log->edits.size() == 2);
  // The owner is still moving: a moment later, the join is tried again.
  self->send(registry, answer_atom::value, to_caf(make_error(errc::fenced, "moving")));
  run();
  advance(100ms);
  REQUIRE(log->joins.size() == 3);
  admit_join();
  REQUIRE(log->edits.size() == 4);
  CHECK(log->edits[2].client_seq == 2); // unanswered: sent again
  CHECK(log->edits[3].client_seq == 3);
  CHECK(sink->errors().empty()); // the client noticed nothing
}

TEST_CASE_FIXTURE(gateway_fixture, "a re-attach that cannot succeed tells the client to join again, as older servers did") {
  start();
  say({{"join", {{"docId", "notes"}}}});
  admit_join();
  say(edit_of("notes", 1, 0, "a"));
  self->send(document, answer_atom::value, moved_atom::value, session, std::string{"notes"}, std::uint64_t{0});
  run();
  REQUIRE(log->joins.size() == 2);
  self->send(registry, answer_atom::value, to_caf(make_error(errc::rate_limited, "too many documents")));
  run();
  CHECK(sink->errors() == std::vector<std::string>{"fenced"});
  say(edit_of("notes", 2, 0, "b"));
  CHECK(sink->errors() == std::vector<std::string>({"fenced", "not_joined"}));
}
