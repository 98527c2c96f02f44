// The document actor on CAF's deterministic scheduler, against a store
// that answers only when the test says: acks only after commit, writes
// pipelined and released in order, every way a commit can fail, access
// changes in every order a cluster can deliver them, moves and idling.
#include "actors/document_actor.hpp"

#include "tests/support/actor_fixture.hpp"

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;

namespace {

struct document_fixture : actor_fixture {
  std::shared_ptr<store_script> store_log = std::make_shared<store_script>();
  caf::actor store = spawn(scripted_store, store_log);
  caf::actor registry = spawn(permissive_registry);
  std::shared_ptr<dropped_log> drops = std::make_shared<dropped_log>();
  caf::actor gateway = spawn(recording_session, drops);
  document_actor_config config;

  document_fixture() {
    config.idle_timeout = 1s;
    config.commit_timeout = 10s;
    config.access_refresh = 1h; // joins use what the document knows unless a test says otherwise
    config.access_recheck = 1h;
  }

  document_actor_api open_document(auth::document_access access = {}) {
    return actor_fixture::spawn(document_actor, std::make_shared<document>("d", conflict_policy::lww, document_limits{}),
                     std::string{"d"}, std::move(access), std::uint64_t{0}, caf::actor_cast<storage_api>(store),
                     caf::actor_cast<registry_api>(registry), config);
  }

  /// Joins a session of this node as `user` (0: anonymous); returns its sink.
  std::shared_ptr<recording_sink> join(const document_actor_api& doc, const std::string& session,
                                       std::int64_t user = 0, bool echo = false) {
    auto sink = std::make_shared<recording_sink>();
    join_request req{"d",  "lww", 0, echo, "c-" + session, session, user, user ? "user" + std::to_string(user) : "",
                     sink, caf::actor_cast<session_api>(gateway), {}};
    self->send(doc, join_atom::value, std::move(req));
    run();
    return sink;
  }

  /// The first steady_now_ns() past `t`: strictly after what came before.
  static std::int64_t after_a_tick(std::int64_t t) {
    auto now = steady_now_ns();
    while (now <= t)
      now = steady_now_ns();
    return now;
  }

  /// Joins a session of `node` (its frames go over the bus); returns its sink.
  std::shared_ptr<recording_sink> join_remote(const document_actor_api& doc, const std::string& node,
                                              const std::string& session) {
    auto sink = std::make_shared<recording_sink>();
    join_request req{"d", "lww", 0, false, "c-" + session, session, 0, "", sink, {}, node};
    self->send(doc, join_atom::value, std::move(req));
    run();
    return sink;
  }

  /// The error code the last join was answered with, or "" when admitted.
  std::string join_answer() {
    std::string code = "none";
    self->receive([&](joined&) { code = ""; },
                  [&](caf::error& err) { code = std::string{to_string(from_caf(err).code)}; },
                  caf::after(0s) >> [] {});
    return code;
  }

  void edit(const document_actor_api& doc, const std::string& session, std::uint64_t seq, std::uint64_t base,
            std::string text) {
    edit_request e;
    e.client_id = "c-" + session;
    e.session_id = session;
    e.client_seq = seq;
    e.base_rev = base;
    e.op.insert(std::move(text));
    self->send(doc, edit_atom::value, std::move(e));
    run();
  }

  static loaded_document access_rows(std::int64_t owner, std::uint64_t version,
                                     std::vector<storage::acl_row> grants) {
    loaded_document out;
    out.row.id = "d";
    out.row.owner_id = owner;
    out.acl.version = version;
    out.acl.entries = std::move(grants);
    return out;
  }
};

} // namespace

TEST_CASE_FIXTURE(document_fixture, "an edit is acked and fanned out only after its write committed") {
  auto doc = open_document();
  auto author = join(doc, "a");
  auto reader = join(doc, "b");
  CHECK(join_answer().empty());
  CHECK(join_answer().empty());
  CHECK(author->has_snapshot());
  answer_commit(store); // the joins' session records: the first alone, the second with the next write
  answer_commit(store);
  edit(doc, "a", 1, 0, "hello");
  REQUIRE(store_log->commits.size() == 1);
  CHECK(author->acks().empty());
  CHECK(reader->applied().empty());
  answer_commit(store);
  CHECK(author->acks() == std::vector<std::uint64_t>{1});
  CHECK(reader->applied() == std::vector<std::uint64_t>{1});
  CHECK(author->applied().empty()); // no echo
}

TEST_CASE_FIXTURE(document_fixture, "edits ordered while a write is in flight go as one write when it is answered") {
  auto doc = open_document();
  auto a = join(doc, "a");
  join_answer();
  answer_commit(store);
  edit(doc, "a", 1, 0, "x");
  REQUIRE(store_log->commits.size() == 1);
  // Two more while the first is out: they wait for its answer.
  edit(doc, "a", 2, 1, "y");
  edit(doc, "a", 3, 2, "z");
  CHECK(store_log->commits.size() == 1);
  answer_commit(store);
  CHECK(a->acks() == std::vector<std::uint64_t>{1});
  REQUIRE(store_log->commits.size() == 1);
  CHECK(store_log->commits[0].rows.size() == 2); // one write for everything ordered meanwhile
  answer_commit(store);
  CHECK(a->acks() == std::vector<std::uint64_t>({1, 2, 3}));
}

TEST_CASE_FIXTURE(document_fixture, "a write storage refuses closes the document; its sessions' node re-attaches them") {
  using move = std::pair<std::string, std::uint64_t>;
  // A deleted document is gone for its sessions; every other refusal sends
  // them, unnoticed, to wherever the document is next, from the revision
  // they were sent (the lost edit is still unanswered there).
  for (auto code : {errc::fenced, errc::storage_unavailable, errc::internal}) {
    CAPTURE(to_string(code));
    store_log->commit_at_once = false;
    store_log->commits.clear();
    drops->documents.clear();
    drops->moves.clear();
    auto doc = open_document();
    auto a = join(doc, "a");
    join_answer();
    answer_commit(store);
    edit(doc, "a", 1, 0, "lost");
    auto err = make_error(code, "refused");
    answer_commit(store, &err);
    run();
    CHECK(a->acks().empty());
    CHECK(a->errors().empty());
    CHECK(drops->documents.empty());
    CHECK(drops->moves == std::vector<move>{{"d", 0}});
  }
  store_log->commits.clear();
  drops->moves.clear();
  auto doc = open_document();
  auto a = join(doc, "a");
  join_answer();
  answer_commit(store);
  edit(doc, "a", 1, 0, "lost");
  auto err = make_error(errc::unknown_document, "refused");
  answer_commit(store, &err);
  run();
  REQUIRE_FALSE(a->errors().empty());
  CHECK(a->errors().back() == "unknown_document");
  CHECK(drops->documents == std::vector<std::string>{"d"});
  CHECK(drops->moves.empty());
}

TEST_CASE_FIXTURE(document_fixture, "a commit the store never answers closes the document when the watchdog fires") {
  using move = std::pair<std::string, std::uint64_t>;
  auto doc = open_document();
  auto a = join(doc, "a");
  join_answer();
  answer_commit(store);
  edit(doc, "a", 1, 0, "never confirmed");
  advance(config.commit_timeout - 1s);
  CHECK(drops->moves.empty());
  advance(2s);
  CHECK(drops->moves == std::vector<move>{{"d", 0}});
  CHECK(a->errors().empty());
  CHECK(a->acks().empty());
}

TEST_CASE_FIXTURE(document_fixture, "a move waits for the writes in flight, then its sessions' node re-attaches them") {
  using move = std::pair<std::string, std::uint64_t>;
  auto doc = open_document();
  auto a = join(doc, "a");
  join_answer();
  answer_commit(store);
  edit(doc, "a", 1, 0, "before the move");
  self->send(doc, move_atom::value);
  run();
  edit(doc, "a", 2, 1, "during the move");
  // Left unanswered: the session's node sends it to the new owner.
  CHECK(a->errors().empty());
  CHECK(drops->moves.empty());
  answer_commit(store);
  CHECK(a->acks() == std::vector<std::uint64_t>{1});
  CHECK(a->errors().empty());
  CHECK(drops->moves == std::vector<move>{{"d", 1}});
}

TEST_CASE_FIXTURE(document_fixture, "a revoke heard while an access re-read is in flight is not undone by the read's older answer") {
  config.access_refresh = 0ms; // every join re-reads
  auto doc = open_document(auth::document_access{1, false, {{2, auth::role::editor}}, 5});
  join(doc, "s2", 2);
  REQUIRE(store_log->access_reads.size() == 1);
  // The owner revokes user 2 (version 7) after the read began; the read's
  // answer (version 6) was taken before the revoke reached the database.
  self->send(doc, acl_atom::value, std::int64_t{2}, std::string{}, std::uint64_t{7});
  run();
  answer_access(store, access_rows(1, 6, {{2, "user2", "editor"}}));
  CHECK(join_answer() == "forbidden");
}

TEST_CASE_FIXTURE(document_fixture, "a grant delayed on the bus does not undo the revoke stored after it") {
  auto doc = open_document(auth::document_access{1, false, {}, 5});
  // Two nodes stored a grant (6) and then its revoke (7); the revoke's
  // publisher was faster.
  self->send(doc, acl_atom::value, std::int64_t{2}, std::string{}, std::uint64_t{7});
  self->send(doc, acl_atom::value, std::int64_t{2}, std::string{"editor"}, std::uint64_t{6});
  run();
  join(doc, "s2", 2);
  CHECK(join_answer() == "forbidden");
  // A newer grant does count.
  self->send(doc, acl_atom::value, std::int64_t{2}, std::string{"editor"}, std::uint64_t{8});
  run();
  join(doc, "s2", 2);
  CHECK(join_answer().empty());
}

TEST_CASE_FIXTURE(document_fixture, "a revoke whose bus message was lost holds at the next periodic re-read") {
  config.access_recheck = 60s;
  store_log->commit_at_once = true;
  auto doc = open_document(auth::document_access{1, false, {{2, auth::role::editor}}, 5});
  auto s2 = join(doc, "s2", 2);
  CHECK(join_answer().empty());
  CHECK(store_log->access_reads.empty());
  advance(60s);
  REQUIRE(store_log->access_reads.size() == 1);
  // The revoke was stored (version 6) but its node died before publishing.
  answer_access(store, access_rows(1, 6, {}));
  CHECK(s2->errors() == std::vector<std::string>{"forbidden"});
  CHECK(drops->documents == std::vector<std::string>{"d"});
}

TEST_CASE_FIXTURE(document_fixture, "a document deleted while a join waits for the access read answers it unknown_document") {
  config.access_refresh = 0ms;
  auto doc = open_document(auth::document_access{1, true, {}, 1});
  join(doc, "s3", 3);
  fail_access(store, make_error(errc::unknown_document, "deleted"));
  run();
  CHECK(join_answer() == "unknown_document");
}

TEST_CASE_FIXTURE(document_fixture, "edits sent while the join waits for the access read are applied after it") {
  config.access_refresh = 0ms;
  store_log->commit_at_once = true;
  auto doc = open_document(auth::document_access{1, false, {{2, auth::role::editor}}, 5});
  auto s2 = join(doc, "s2", 2);
  edit(doc, "s2", 1, 0, "early");
  CHECK(s2->acks().empty());
  answer_access(store, access_rows(1, 5, {{2, "user2", "editor"}}));
  CHECK(join_answer().empty());
  CHECK(s2->acks() == std::vector<std::uint64_t>{1});
}

TEST_CASE_FIXTURE(document_fixture, "a document with no sessions snapshots what it committed and stops when idle") {
  store_log->commit_at_once = true;
  auto doc = open_document();
  join(doc, "a");
  join_answer();
  edit(doc, "a", 1, 0, "kept");
  self->send(doc, leave_atom::value, std::string{"a"});
  run();
  self->monitor(doc);
  advance(config.idle_timeout);
  REQUIRE(store_log->snapshots.size() == 1);
  CHECK(store_log->snapshots[0].content == "kept");
  CHECK(store_log->snapshots[0].rev == 1);
  advance(config.idle_timeout);
  bool stopped = false;
  self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(0s) >> [] {});
  CHECK(stopped);
}

TEST_CASE_FIXTURE(document_fixture, "an edit refused while storage is behind holds back its client's later edits") {
  config.max_pending_edits = 1;
  auto doc = open_document();
  auto a = join(doc, "a");
  join_answer();
  answer_commit(store); // the join's session record
  edit(doc, "a", 1, 0, "one ");
  edit(doc, "a", 2, 0, "two "); // one edit already waits for storage: refused, resend later
  CHECK(a->errors() == std::vector<std::string>{"storage_unavailable"});
  answer_commit(store); // rev 1
  // Had 3 been applied, the resent 2 would count as a duplicate (lower
  // than the highest clientSeq applied): acked, never stored.
  edit(doc, "a", 3, 1, "three ");
  CHECK(a->errors() == std::vector<std::string>({"storage_unavailable", "out_of_order"}));
  edit(doc, "a", 2, 1, "two ");
  answer_commit(store); // rev 2
  edit(doc, "a", 3, 2, "three ");
  answer_commit(store); // rev 3
  CHECK(store_log->committed_revs == std::vector<std::uint64_t>({1, 2, 3}));
  CHECK(a->acks() == std::vector<std::uint64_t>({1, 2, 3}));
}

TEST_CASE_FIXTURE(document_fixture, "edits stay held back across a leave and a join again, under the same client") {
  config.max_pending_edits = 1;
  auto doc = open_document();
  join(doc, "a");
  join_answer();
  answer_commit(store);
  edit(doc, "a", 1, 0, "one ");
  edit(doc, "a", 2, 0, "two "); // refused for now
  answer_commit(store);
  self->send(doc, leave_atom::value, std::string{"a"}); // a resync: the gateway leaves, then joins again
  run();
  auto again = join(doc, "a");
  join_answer();
  edit(doc, "a", 3, 1, "three ");
  CHECK(again->errors() == std::vector<std::string>{"out_of_order"});
  while (!store_log->commits.empty())
    answer_commit(store);
  CHECK(store_log->committed_revs == std::vector<std::uint64_t>{1});
}

TEST_CASE_FIXTURE(document_fixture, "frames lost on the bus send the sessions that missed them to re-attach") {
  auto doc = open_document();
  auto local = join(doc, "local");
  join_answer();
  auto far = join_remote(doc, "n2", "far");
  join_answer();
  auto other = join_remote(doc, "n3", "other");
  join_answer();
  answer_commit(store);
  auto lost_at = after_a_tick(steady_now_ns());
  after_a_tick(lost_at);
  // Joined after the loss: it missed nothing, whichever node it is on.
  auto later = join_remote(doc, "n2", "later");
  join_answer();
  self->send(doc, lost_atom::value, std::string{"n2"}, lost_at);
  run();
  CHECK(far->errors() == std::vector<std::string>{"fenced"});
  CHECK(later->errors().empty());
  CHECK(other->errors().empty());
  CHECK(local->errors().empty());
  // Broadcasts lost ("" for every node): every remote session still
  // here that joined before, no local one; the one told before was
  // forgotten then (its node joins it again).
  self->send(doc, lost_atom::value, std::string{}, after_a_tick(steady_now_ns()));
  run();
  CHECK(other->errors() == std::vector<std::string>{"fenced"});
  CHECK(later->errors() == std::vector<std::string>{"fenced"});
  CHECK(far->errors() == std::vector<std::string>{"fenced"});
  CHECK(local->errors().empty());
  CHECK(drops->moves.empty());
}
