// The router between the Redis bridge and the registry, on CAF's
// deterministic scheduler: each payload parsed once and handed on typed,
// frames to the stand-in relaying the document, requests of other nodes'
// sessions to the registry, refusals answered on the sender's channel.
#include "actors/cluster_router.hpp"

#include "tests/support/actor_fixture.hpp"

using namespace stet;
using namespace stet::test;
using namespace std::chrono_literals;

namespace {

using answer_atom = caf::atom_constant<caf::atom("answer")>;

struct heard {
  std::vector<join_request> joins;
  std::vector<caf::response_promise> join_promises;
  std::vector<std::pair<std::string, edit_request>> edits;
  std::vector<std::string> leaves;
  std::vector<std::string> deletes;
  std::vector<std::string> envelopes; // what the stand-in got, by kind
};

caf::behavior recording_registry(caf::event_based_actor* self, std::shared_ptr<heard> log) {
  return {
    [=](join_atom, join_request& req) {
      log->joins.push_back(std::move(req));
      log->join_promises.push_back(self->make_response_promise());
    },
    [=](answer_atom, caf::error& err) {
      auto rp = std::move(log->join_promises.front());
      log->join_promises.erase(log->join_promises.begin());
      rp.deliver(std::move(err));
    },
    [=](edit_atom, const std::string& doc, edit_request& e) { log->edits.emplace_back(doc, std::move(e)); },
    [=](leave_atom, const std::string& doc, const std::string& node, const std::string& session) {
      log->leaves.push_back(doc + "/" + node + "/" + session);
    },
    [=](heard_atom, const std::string& doc) { log->deletes.push_back(doc); },
  };
}

caf::behavior recording_stand_in(caf::event_based_actor*, std::shared_ptr<heard> log) {
  return {[=](bus_atom, const wire::BusEnvelope& env) {
    log->envelopes.push_back(env.has_frame() ? "frame" : env.has_broadcast() ? "broadcast" : "other");
  }};
}

struct router_fixture : actor_fixture {
  std::shared_ptr<heard> log = std::make_shared<heard>();
  std::shared_ptr<recording_bus> bus = std::make_shared<recording_bus>("here");
  caf::actor registry = spawn(recording_registry, log);
  cluster_router_api router = spawn(cluster_router, caf::actor_cast<registry_api>(registry),
                                    cluster_router_config{bus, nullptr});

  void from(const std::string& node, wire::BusEnvelope env) {
    env.set_from_node(node);
    self->send(router, bus_atom::value, env.SerializeAsString());
    run();
  }
};

} // namespace

TEST_CASE_FIXTURE(router_fixture, "frames and applied edits go to the stand-in relaying the document, parsed") {
  auto stand_in = spawn(recording_stand_in, log);
  self->send(router, route_atom::value, std::string{"d"}, caf::actor_cast<remote_document_api>(stand_in));
  run();
  wire::BusEnvelope frame;
  frame.set_doc_id("d");
  frame.mutable_frame()->set_session_id("s1");
  from("owner", frame);
  wire::BusEnvelope elsewhere = frame;
  elsewhere.set_doc_id("other");
  from("owner", elsewhere); // no stand-in here: dropped
  CHECK(log->envelopes == std::vector<std::string>{"frame"});
}

TEST_CASE_FIXTURE(router_fixture, "a join of another node's session is the registry's join; a refusal is withdrawn and told") {
  wire::BusEnvelope env;
  env.set_doc_id("d");
  auto* j = env.mutable_join();
  j->set_session_id("s9");
  j->set_client_id("c9");
  j->set_user_id(9);
  from("n2", env);
  REQUIRE(log->joins.size() == 1);
  CHECK(log->joins[0].remote_node == "n2");
  CHECK(log->joins[0].session_id == "s9");
  CHECK(log->joins[0].user_id == 9);
  CHECK_FALSE(log->joins[0].gateway); // no local session actor to watch
  self->send(registry, answer_atom::value, to_caf(make_error(errc::forbidden, "no")));
  run();
  CHECK(log->leaves == std::vector<std::string>{"d/n2/s9"});
  auto told = bus->on(cluster_bus::node_channel("n2"));
  REQUIRE(told.size() == 1);
  wire::ServerMessage m;
  REQUIRE(m.ParseFromString(told[0].frame().message()));
  CHECK(m.error().code() == "forbidden");
}

TEST_CASE_FIXTURE(router_fixture, "edits are decoded once; one that does not decode is refused to its session") {
  wire::BusEnvelope env;
  env.set_doc_id("d");
  auto* e = env.mutable_edit();
  e->set_session_id("s1");
  e->set_client_seq(4);
  e->add_ops()->set_insert("hi");
  from("n2", env);
  REQUIRE(log->edits.size() == 1);
  CHECK(log->edits[0].first == "d");
  CHECK(log->edits[0].second.remote_node == "n2");
  CHECK(log->edits[0].second.client_seq == 4);
  CHECK(log->edits[0].second.op.components().size() == 1);
  e->add_ops()->set_retain(0); // a zero-length component: malformed
  from("n2", env);
  CHECK(log->edits.size() == 1);
  CHECK(bus->on(cluster_bus::node_channel("n2")).size() == 1);
}

TEST_CASE_FIXTURE(router_fixture, "a batch inside a batch is dropped whole, and a node's own changes are not applied twice") {
  wire::BusEnvelope inner;
  inner.set_doc_id("d");
  inner.mutable_deleted();
  inner.set_from_node("n2");
  wire::BusEnvelope batch;
  batch.mutable_batch()->add_envelopes(inner.SerializeAsString());
  wire::BusEnvelope nested;
  nested.mutable_batch()->add_envelopes(batch.SerializeAsString());
  from("n2", nested);
  CHECK(log->deletes.empty());
  from("here", inner); // this node's own publication, heard back on stet:cluster
  CHECK(log->deletes.empty());
  from("n2", batch);
  CHECK(log->deletes == std::vector<std::string>{"d"});
}

TEST_CASE_FIXTURE(router_fixture, "a relayed join the registry never answers is withdrawn and the session told fenced") {
  wire::BusEnvelope env;
  env.set_doc_id("d");
  env.mutable_join()->set_session_id("s5");
  from("n2", env);
  REQUIRE(log->joins.size() == 1);
  advance(2 * k_store_timeout + std::chrono::seconds(11));
  CHECK(log->leaves == std::vector<std::string>{"d/n2/s5"});
  auto told = bus->on(cluster_bus::node_channel("n2"));
  REQUIRE(told.size() == 1);
  wire::ServerMessage m;
  REQUIRE(m.ParseFromString(told[0].frame().message()));
  CHECK(m.error().code() == "fenced"); // its node drops the session, which joins again
}

TEST_CASE_FIXTURE(router_fixture, "applied edits go to the stand-in too, batched or not") {
  auto stand_in = spawn(recording_stand_in, log);
  self->send(router, route_atom::value, std::string{"d"}, caf::actor_cast<remote_document_api>(stand_in));
  run();
  wire::BusEnvelope one;
  one.set_doc_id("d");
  one.mutable_broadcast()->set_rev(4);
  wire::BusEnvelope batch;
  one.set_from_node("owner");
  batch.mutable_batch()->add_envelopes(one.SerializeAsString());
  batch.mutable_batch()->add_envelopes(one.SerializeAsString());
  from("owner", batch);
  CHECK(log->envelopes == std::vector<std::string>({"broadcast", "broadcast"}));
}
