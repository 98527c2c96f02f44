// Actor tests on CAF's deterministic scheduler. Nothing runs until the test
// says so: run() delivers every queued message (timers stay pending),
// advance(d) moves the clock and fires what is due, then runs. Orderings
// that real threads produce only by chance happen here every time, and no
// test sleeps or polls.
//
// The other actors an actor talks to are scripted: a store that holds
// every commit and access read until the test answers it, a registry that
// answers as told, sinks that record what sessions hear.
#pragma once

#include "actors/api.hpp"
#include "actors/cluster_bus.hpp"
#include "actors/session_sink.hpp"
#include "proto/codec.hpp"

#include <caf/test/dsl.hpp>
#undef expect
#undef allow
#undef disallow
#undef inject

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

namespace stet::test {

/// A session's sink that decodes and keeps every frame.
class recording_sink final : public session_sink {
public:
  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }
  void send(std::shared_ptr<const std::string> frame) override {
    auto m = wire::decode_server(*frame, wire::frame_format::binary);
    REQUIRE(m);
    messages.push_back(std::move(*m));
  }
  void send(std::vector<std::shared_ptr<const std::string>> frames) override {
    ++handovers;
    for (auto& f : frames)
      send(std::move(f));
  }
  using session_sink::send;

  /// The error codes heard, in order.
  std::vector<std::string> errors() const;
  /// The revisions acked, in order.
  std::vector<std::uint64_t> acks() const;
  /// The revisions heard applied, in order.
  std::vector<std::uint64_t> applied() const;
  bool has_snapshot() const;

  std::vector<wire::ServerMessage> messages;
  int handovers = 0;
};

/// What the scripted store was asked and has not answered yet. Answers
/// are sent to the store actor (answer_* of the fixture): a response
/// promise is only delivered from its own actor.
struct store_script {
  struct commit {
    std::vector<storage::op_row> rows;
    std::vector<storage::session_event> sessions;
    caf::response_promise promise;
  };
  std::vector<commit> commits;
  std::vector<caf::response_promise> access_reads;
  std::vector<caf::response_promise> loads;
  std::vector<storage::snapshot_row> snapshots; // answered at once
  /// Commits answered ok at once (no edit waits for the test).
  bool commit_at_once = false;
  /// Revisions of every commit received so far, answered or not.
  std::vector<std::uint64_t> committed_revs;
};

/// A store actor that does what `script` says (see store_script).
caf::behavior scripted_store(caf::event_based_actor* self, std::shared_ptr<store_script> script);

/// A registry that lets idle documents stop and ignores the rest.
caf::behavior permissive_registry(caf::event_based_actor* self);

/// A session actor that records the documents it was dropped from.
struct dropped_log {
  std::vector<std::string> documents;
  /// (document, revision) of each move the session was told of.
  std::vector<std::pair<std::string, std::uint64_t>> moves;
};
caf::behavior recording_session(caf::event_based_actor* self, std::shared_ptr<dropped_log> log);

struct actor_fixture : test_coordinator_fixture<> {
  actor_fixture() {
    cfg.set("logger.verbosity", caf::atom("quiet"));
  }
  /// Stops every actor spawned through spawn(), and drops the timers they
  /// left (a document's periodic re-read would otherwise keep the base
  /// fixture's final run() going for ever).
  ~actor_fixture() override;

  /// Spawns an actor that the fixture stops at the end of the test.
  template <class... Ts>
  auto spawn(Ts&&... xs) {
    auto handle = sys.spawn(std::forward<Ts>(xs)...);
    spawned.push_back(caf::actor_cast<caf::actor>(handle));
    return handle;
  }
  std::vector<caf::actor> spawned;

  /// Delivers every queued message; timers stay pending.
  void run() {
    sched.run();
  }
  /// Moves the clock by `d` (firing what is due) and delivers what follows.
  void advance(caf::timespan d) {
    sched.clock().advance_time(d);
    sched.run();
  }

  // -- answers of a scripted_store --

  /// The oldest unanswered commit: ok, or `err`.
  void answer_commit(const caf::actor& store, const error* err = nullptr);
  /// The oldest access read: `doc`, or `err`.
  void answer_access(const caf::actor& store, loaded_document doc);
  void fail_access(const caf::actor& store, const error& err);
  /// The oldest load: `doc`.
  void answer_load(const caf::actor& store, loaded_document doc);
};

} // namespace stet::test

namespace stet::test {

/// A bus that records what is published and confirms subscriptions when
/// the test says (confirm()), so a stand-in's wait for its subscription is
/// a step of the test.
class recording_bus final : public cluster_bus {
public:
  explicit recording_bus(std::string node) : node_(std::move(node)) {
  }
  const std::string& node_id() const noexcept override {
    return node_;
  }
  void publish(std::string channel, std::string payload) override {
    published.push_back({std::move(channel), std::move(payload)});
  }
  void subscribe(std::string channel, std::function<void()> confirmed) override {
    pending.push_back({std::move(channel), std::move(confirmed)});
  }
  void unsubscribe(std::string channel) override {
    unsubscribed.push_back(std::move(channel));
  }
  /// Confirms every subscription asked for so far.
  void confirm() {
    auto now = std::move(pending);
    pending.clear();
    for (auto& [channel, confirmed] : now) {
      subscribed.push_back(channel);
      if (confirmed)
        confirmed();
    }
  }
  /// The envelopes published on `channel`, decoded.
  std::vector<wire::BusEnvelope> on(const std::string& channel) const;

  std::vector<std::pair<std::string, std::string>> published;
  std::vector<std::pair<std::string, std::function<void()>>> pending;
  std::vector<std::string> subscribed;
  std::vector<std::string> unsubscribed;

private:
  std::string node_;
};

} // namespace stet::test
