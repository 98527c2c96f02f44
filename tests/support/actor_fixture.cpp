#include "tests/support/actor_fixture.hpp"

namespace stet::test {

std::vector<std::string> recording_sink::errors() const {
  std::vector<std::string> out;
  for (auto& m : messages)
    if (m.has_error())
      out.push_back(m.error().code());
  return out;
}

std::vector<std::uint64_t> recording_sink::acks() const {
  std::vector<std::uint64_t> out;
  for (auto& m : messages)
    if (m.has_ack())
      out.push_back(m.ack().rev());
  return out;
}

std::vector<std::uint64_t> recording_sink::applied() const {
  std::vector<std::uint64_t> out;
  for (auto& m : messages)
    if (m.has_applied())
      out.push_back(m.applied().rev());
  return out;
}

bool recording_sink::has_snapshot() const {
  for (auto& m : messages)
    if (m.has_snapshot())
      return true;
  return false;
}

namespace {

using answer_atom = caf::atom_constant<caf::atom("answer")>;

template <class T>
void deliver_oldest(std::vector<caf::response_promise>& promises, T&& x) {
  REQUIRE_FALSE(promises.empty());
  auto rp = std::move(promises.front());
  promises.erase(promises.begin());
  rp.deliver(std::forward<T>(x));
}

} // namespace

actor_fixture::~actor_fixture() {
  for (auto& a : spawned)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  sched.run();
  sched.clock().cancel_all();
}

void actor_fixture::answer_commit(const caf::actor& store, const error* err) {
  if (err)
    self->send(store, answer_atom::value, commit_atom::value, to_caf(*err));
  else
    self->send(store, answer_atom::value, commit_atom::value);
  run();
}

void actor_fixture::answer_access(const caf::actor& store, loaded_document doc) {
  self->send(store, answer_atom::value, acl_atom::value, std::move(doc));
  run();
}

void actor_fixture::fail_access(const caf::actor& store, const error& err) {
  self->send(store, answer_atom::value, acl_atom::value, to_caf(err));
  run();
}

void actor_fixture::answer_load(const caf::actor& store, loaded_document doc) {
  self->send(store, answer_atom::value, load_atom::value, std::move(doc));
  run();
}

caf::behavior scripted_store(caf::event_based_actor* self, std::shared_ptr<store_script> script) {
  return {
    [=](commit_atom, std::vector<storage::op_row>& rows, std::vector<storage::session_event>& sessions) {
      for (auto& r : rows)
        script->committed_revs.push_back(r.rev);
      auto rp = self->make_response_promise();
      if (script->commit_at_once) {
        rp.deliver(caf::ok_atom::value);
        return;
      }
      script->commits.push_back({std::move(rows), std::move(sessions), rp});
    },
    [=](snapshot_atom, storage::snapshot_row& snap) {
      script->snapshots.push_back(std::move(snap));
      return caf::ok_atom::value;
    },
    [=](acl_atom, const std::string&) { script->access_reads.push_back(self->make_response_promise()); },
    [=](load_atom, const load_request&) { script->loads.push_back(self->make_response_promise()); },
    [=](answer_atom, commit_atom) {
      REQUIRE_FALSE(script->commits.empty());
      auto c = std::move(script->commits.front());
      script->commits.erase(script->commits.begin());
      c.promise.deliver(caf::ok_atom::value);
    },
    [=](answer_atom, commit_atom, caf::error& err) {
      REQUIRE_FALSE(script->commits.empty());
      auto c = std::move(script->commits.front());
      script->commits.erase(script->commits.begin());
      c.promise.deliver(std::move(err));
    },
    [=](answer_atom, acl_atom, loaded_document& doc) { deliver_oldest(script->access_reads, std::move(doc)); },
    [=](answer_atom, acl_atom, caf::error& err) { deliver_oldest(script->access_reads, std::move(err)); },
    [=](answer_atom, load_atom, loaded_document& doc) { deliver_oldest(script->loads, std::move(doc)); },
  };
}

caf::behavior permissive_registry(caf::event_based_actor* self) {
  self->set_default_handler(caf::drop);
  return {[](idle_atom, const std::string&, std::uint64_t) { return true; }};
}

caf::behavior recording_session(caf::event_based_actor*, std::shared_ptr<dropped_log> log) {
  return {[=](drop_atom, const std::string& doc) { log->documents.push_back(doc); },
          [=](moved_atom, const std::string& doc, std::uint64_t rev) { log->moves.emplace_back(doc, rev); }};
}

} // namespace stet::test

namespace stet::test {

std::vector<wire::BusEnvelope> recording_bus::on(const std::string& channel) const {
  std::vector<wire::BusEnvelope> out;
  for (auto& [c, payload] : published) {
    if (c != channel)
      continue;
    wire::BusEnvelope env;
    REQUIRE(env.ParseFromString(payload));
    out.push_back(std::move(env));
  }
  return out;
}

} // namespace stet::test
