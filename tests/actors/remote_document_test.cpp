// The stand-in for a document another node owns, on CAF's deterministic
// scheduler with a bus that records: joins wait for the document's
// channel, requests go to the owner's channel, only the owner speaks for
// the document, and a gap or a move sends every session to join again.
#include "actors/remote_document.hpp"

#include "tests/support/actor_fixture.hpp"

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;

namespace {

struct stand_in_fixture : actor_fixture {
  std::shared_ptr<recording_bus> bus = std::make_shared<recording_bus>("here");
  std::shared_ptr<dropped_log> drops = std::make_shared<dropped_log>();
  caf::actor gateway = spawn(recording_session, drops);
  remote_document_api stand_in = spawn(remote_document, std::string{"d"}, std::string{"owner"}, bus);

  stand_in_fixture() {
    run(); // the stand-in starts: it asks for the document's channel
  }

  std::shared_ptr<recording_sink> join(const std::string& session) {
    auto sink = std::make_shared<recording_sink>();
    self->send(stand_in, join_atom::value,
               join_request{"d", "lww", 0, false, "c-" + session, session, 7, "user7", sink,
                            caf::actor_cast<session_api>(gateway), {}});
    run();
    return sink;
  }

  bool joined_answer() {
    bool ok = false;
    self->receive([&](joined&) { ok = true; }, [](caf::error&) {}, caf::after(0s) >> [] {});
    return ok;
  }

  /// A payload the owner (or `from`) sends this node about the document.
  void from_owner(wire::BusEnvelope env, const std::string& from = "owner") {
    env.set_from_node(from);
    env.set_doc_id("d");
    self->send(stand_in, bus_atom::value, std::move(env));
    run();
  }

  static wire::BusEnvelope frame_for(const std::string& session, const wire::ServerMessage& m) {
    wire::BusEnvelope env;
    env.mutable_frame()->set_session_id(session);
    env.mutable_frame()->set_message(m.SerializeAsString());
    return env;
  }

  static wire::BusEnvelope broadcast(std::uint64_t rev) {
    wire::ServerMessage m;
    m.mutable_applied()->set_doc_id("d");
    m.mutable_applied()->set_rev(rev);
    wire::BusEnvelope env;
    env.mutable_broadcast()->set_rev(rev);
    env.mutable_broadcast()->set_applied(m.SerializeAsString());
    env.mutable_broadcast()->set_author_session("elsewhere");
    env.mutable_broadcast()->set_author_node("owner");
    return env;
  }

  static wire::ServerMessage snapshot(std::uint64_t rev) {
    wire::ServerMessage m;
    m.mutable_snapshot()->set_doc_id("d");
    m.mutable_snapshot()->set_rev(rev);
    return m;
  }
};

} // namespace

TEST_CASE_FIXTURE(stand_in_fixture, "a join waits for the document's channel, then goes to the owner") {
  join("s1");
  CHECK(bus->on(cluster_bus::node_channel("owner")).empty());
  CHECK_FALSE(joined_answer());
  bus->confirm(); // the stand-in hears of it as a message
  run();
  CHECK(joined_answer());
  auto sent = bus->on(cluster_bus::node_channel("owner"));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].join().session_id() == "s1");
  CHECK(sent[0].join().user_id() == 7);
  CHECK(sent[0].from_node() == "here");
}

TEST_CASE_FIXTURE(stand_in_fixture, "only the owner speaks for the document: frames and broadcasts of another node are ignored") {
  bus->confirm();
  run();
  auto sink = join("s1");
  from_owner(frame_for("s1", snapshot(3)), "impostor");
  CHECK(sink->messages.empty());
  from_owner(frame_for("s1", snapshot(3)));
  CHECK(sink->has_snapshot());
  from_owner(broadcast(4), "impostor");
  CHECK(sink->applied().empty());
  from_owner(broadcast(4));
  CHECK(sink->applied() == std::vector<std::uint64_t>{4});
}

TEST_CASE_FIXTURE(stand_in_fixture, "an edit is relayed to the owner under the session's name") {
  bus->confirm();
  run();
  join("s1");
  edit_request e;
  e.client_id = "c-s1";
  e.session_id = "s1";
  e.client_seq = 5;
  e.base_rev = 2;
  e.op.insert("x");
  self->send(stand_in, edit_atom::value, std::move(e));
  run();
  auto sent = bus->on(cluster_bus::node_channel("owner"));
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].edit().session_id() == "s1");
  CHECK(sent[1].edit().client_seq() == 5);
  CHECK(sent[1].edit().base_rev() == 2);
}

TEST_CASE_FIXTURE(stand_in_fixture, "a revision gap has every session re-attached from what it was sent; the stand-in stops") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  auto s1 = join("s1");
  auto s2 = join("s2");
  from_owner(frame_for("s1", snapshot(3)));
  from_owner(frame_for("s2", snapshot(3)));
  from_owner(broadcast(4));
  self->monitor(stand_in);
  from_owner(broadcast(6)); // 5 was lost
  CHECK(s1->errors().empty()); // the client notices nothing
  CHECK(s2->errors().empty());
  CHECK(s1->applied() == std::vector<std::uint64_t>{4});
  CHECK(drops->moves == std::vector<move>({{"d", 4}, {"d", 4}}));
  CHECK(drops->documents.empty());
  CHECK(bus->unsubscribed == std::vector<std::string>{cluster_bus::doc_channel("d")});
  bool stopped = false;
  self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(0s) >> [] {});
  CHECK(stopped);
}

TEST_CASE_FIXTURE(stand_in_fixture, "an owner that stops serving a session has it re-attached; the client hears nothing of it") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  auto s1 = join("s1");
  auto s2 = join("s2");
  from_owner(frame_for("s1", snapshot(3)));
  from_owner(frame_for("s2", snapshot(3)));
  from_owner(frame_for("s1", wire::make_error(make_error(errc::fenced, "moved"), "d")));
  CHECK(s1->errors().empty());
  CHECK(drops->moves == std::vector<move>{{"d", 3}});
  // Refusals of an edit are the client's to see.
  from_owner(frame_for("s2", wire::make_error(make_error(errc::rate_limited, "slow down"), "d", 9)));
  CHECK(s2->errors() == std::vector<std::string>{"rate_limited"});
  CHECK(drops->moves.size() == 1);
}

TEST_CASE_FIXTURE(stand_in_fixture, "an owner that does not answer a join or an edit in time has the sessions re-attached") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  auto s1 = join("s1");
  from_owner(frame_for("s1", wire::ServerMessage{})); // admitted, nothing missed
  CHECK(s1->messages.empty());                           // the marker is not the client's
  advance(k_relay_join_timeout + 2s);
  CHECK(drops->moves.empty()); // nothing asked, nothing late
  edit_request e;
  e.client_id = "c-s1";
  e.session_id = "s1";
  e.client_seq = 1;
  e.op.insert("x");
  self->send(stand_in, edit_atom::value, std::move(e));
  run();
  self->monitor(stand_in);
  advance(k_relay_edit_timeout + 1s);
  CHECK(drops->moves == std::vector<move>{{"d", k_unsynced}}); // no snapshot yet: it joins as the client asked
  bool stopped = false;
  self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(0s) >> [] {});
  CHECK(stopped);
}

TEST_CASE_FIXTURE(stand_in_fixture, "a join the owner never answers is re-attached after the relay timeout") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  join("s1");
  advance(k_relay_join_timeout - 1s);
  CHECK(drops->moves.empty());
  advance(2s);
  CHECK(drops->moves == std::vector<move>{{"d", k_unsynced}});
}

TEST_CASE_FIXTURE(stand_in_fixture, "the last session leaving tells the owner, unsubscribes and stops") {
  bus->confirm();
  run();
  join("s1");
  self->monitor(stand_in);
  self->send(stand_in, leave_atom::value, std::string{"s1"});
  run();
  auto sent = bus->on(cluster_bus::node_channel("owner"));
  REQUIRE(sent.size() == 2);
  CHECK(sent[1].leave().session_id() == "s1");
  CHECK(bus->unsubscribed == std::vector<std::string>{cluster_bus::doc_channel("d")});
  bool stopped = false;
  self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(0s) >> [] {});
  CHECK(stopped);
}

TEST_CASE_FIXTURE(stand_in_fixture, "a re-attached session's resumed snapshot is the stand-in's alone; what follows reaches the client") {
  bus->confirm();
  run();
  auto sink = std::make_shared<recording_sink>();
  join_request req{"d", "lww", 5, false, "c-s1", "s1", 7, "user7", sink, caf::actor_cast<session_api>(gateway), {}};
  req.quiet = true;
  self->send(stand_in, join_atom::value, std::move(req));
  run();
  auto sent = bus->on(cluster_bus::node_channel("owner"));
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].join().quiet());
  CHECK(sent[0].join().known_rev() == 5);
  auto resumed = snapshot(5);
  resumed.mutable_snapshot()->set_resumed(true);
  from_owner(frame_for("s1", resumed));
  CHECK(sink->messages.empty()); // the client keeps its text and hears nothing of the move
  from_owner(broadcast(6));
  CHECK(sink->applied() == std::vector<std::uint64_t>{6});
}

TEST_CASE_FIXTURE(stand_in_fixture, "a session that missed revisions is re-attached alone; what it has is never repeated") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  auto s1 = join("s1");
  auto s2 = join("s2");
  from_owner(frame_for("s1", snapshot(3)));
  from_owner(frame_for("s2", snapshot(3)));
  auto applied = [](std::uint64_t rev) {
    wire::ServerMessage m;
    m.mutable_applied()->set_doc_id("d");
    m.mutable_applied()->set_rev(rev);
    return m;
  };
  // A frame sent for an earlier join and delayed on the way: the client has it.
  from_owner(frame_for("s1", applied(4)));
  from_owner(frame_for("s1", applied(4)));
  CHECK(s1->applied() == std::vector<std::uint64_t>{4});
  // Frames for s2 were lost while its channel moved: it resyncs from 3; the
  // client never sees a gap, and s1 carries on.
  from_owner(frame_for("s2", applied(6)));
  CHECK(s2->applied().empty());
  CHECK(s2->errors().empty());
  CHECK(drops->moves == std::vector<move>{{"d", 3}});
  from_owner(broadcast(5));
  CHECK(s1->applied() == std::vector<std::uint64_t>({4, 5}));
  // A broadcast past what a session has (it missed one the stand-in heard
  // as a frame for another) re-attaches that session only.
  auto s3 = join("s3");
  from_owner(frame_for("s3", snapshot(4)));
  from_owner(broadcast(6));
  CHECK(s1->applied() == std::vector<std::uint64_t>({4, 5, 6}));
  CHECK(s3->applied().empty());
  CHECK(drops->moves == std::vector<move>({{"d", 3}, {"d", 4}}));
}

TEST_CASE_FIXTURE(stand_in_fixture, "a session's own edit, acked but not echoed, is no gap in what it catches up on") {
  bus->confirm();
  run();
  auto s1 = join("s1"); // does not see its own edits
  from_owner(frame_for("s1", snapshot(3)));
  wire::ServerMessage ack;
  ack.mutable_ack()->set_client_seq(1);
  ack.mutable_ack()->set_rev(4);
  from_owner(frame_for("s1", ack));
  from_owner(broadcast(5));
  CHECK(s1->applied() == std::vector<std::uint64_t>{5});
  CHECK(drops->moves.empty());
}

TEST_CASE_FIXTURE(stand_in_fixture, "requests lost on the way to the owner have the sessions re-attached, unless made after") {
  using move = std::pair<std::string, std::uint64_t>;
  bus->confirm();
  run();
  join("s1");
  REQUIRE(joined_answer());
  // Lost before this stand-in was made: an earlier one's requests.
  self->send(stand_in, lost_atom::value, std::int64_t{0});
  run();
  CHECK(drops->moves.empty());
  self->monitor(stand_in);
  auto made_by_now = steady_now_ns(); // the fixture made the stand-in before
  auto later = steady_now_ns();
  while (later <= made_by_now)
    later = steady_now_ns();
  self->send(stand_in, lost_atom::value, later);
  run();
  CHECK(drops->moves == std::vector<move>{{"d", k_unsynced}});
  bool stopped = false;
  self->receive([&](caf::down_msg&) { stopped = true; }, caf::after(0s) >> [] {});
  CHECK(stopped);
}
