// The actor that owns one open document. It orders every edit (through
// `document`), hands the writes to the storage actor (commit_pipeline), and
// only after a write committed acks the authors and fans the edits out to
// subscribers (fanout). Joins are admitted by who may open the document,
// re-read from storage when what it knows is old.
#pragma once

#include "actors/api.hpp"
#include "actors/commit_pipeline.hpp"
#include "actors/fanout.hpp"
#include "actors/messages.hpp"
#include "actors/presence_batch.hpp"
#include "actors/cluster_bus.hpp"
#include "auth/access.hpp"

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace stet {

struct document_actor_config {
  /// Write a snapshot (and compact the log) every this many revisions.
  std::uint64_t snapshot_every = 1000;
  /// Revisions kept in the op log behind a snapshot.
  std::uint64_t log_tail = 1000;
  /// How long a document with no subscribers stays open.
  std::chrono::milliseconds idle_timeout{5000};
  /// Presence goes out coalesced per client: cursor moves at most once per
  /// `cursor_interval`, joins and leaves at most once per `roster_interval`
  /// (0: each at once).
  std::chrono::milliseconds cursor_interval{100};
  std::chrono::milliseconds roster_interval{1000};
  /// Edits waiting for storage before new ones get `storage_unavailable`
  /// (bounds memory while storage is down).
  std::size_t max_pending_edits = 10000;
  /// A join re-reads who may open the document when what the actor knows
  /// is older than this (one read serves every join waiting for it), so a
  /// revoke whose bus message was lost holds at the next join all the same.
  std::chrono::milliseconds access_refresh{1000};
  /// While it has sessions, the document reads who may open it this often
  /// even without a join: a revoke or delete whose bus message was lost
  /// (its node died after storing it) holds within this long.
  std::chrono::milliseconds access_recheck{60'000};
  /// A commit unanswered for this long closes the document (its sessions
  /// rejoin, and the reload shows what landed).
  std::chrono::milliseconds commit_timeout{k_commit_timeout};
  /// Edits a session may send while its join waits for that read.
  std::size_t max_edits_before_join = 1024;
  /// This node's id, recorded with sessions.
  std::string node_id = "local";
  /// Lease epoch to commit under (set per document by the registry).
  std::uint64_t epoch = 0;
  /// The cluster bus, when clustered: applied edits go once to the
  /// document's channel for the other nodes' sessions.
  std::shared_ptr<cluster_bus> bus;
};

/// This document's part of `stet_document_history_bytes`, given back when
/// the actor's state is destroyed, however the actor stops.
class history_gauge {
public:
  history_gauge() = default;
  history_gauge(const history_gauge&) = delete;
  history_gauge& operator=(const history_gauge&) = delete;
  ~history_gauge();

  void report(std::size_t bytes);

private:
  std::size_t reported_ = 0;
};

struct document_actor_state {
  std::optional<document> doc;
  history_gauge history;
  std::string title;
  /// The lease epoch every commit is fenced by (the stored one as loaded).
  std::uint64_t epoch = 0;
  auth::access_tracker access;
  caf::actor_clock::time_point access_read_at{};
  bool access_read_in_flight = false;
  bool access_recheck_armed = false;
  /// Joins waiting for `access` to be re-read, with the edits their
  /// sessions sent meanwhile (a remote session's follow its join at once).
  struct waiting_join {
    caf::typed_response_promise<joined> promise;
    join_request request;
    std::vector<edit_request> edits{};
  };
  std::vector<waiting_join> joins_waiting;
  document_actor_config config;
  storage_api store;
  registry_api registry;
  fanout sessions{{}, nullptr};
  commit_pipeline commits;
  bool commit_watch_armed = false;
  presence_batch presence;
  bool presence_flush_scheduled = false;
  std::uint64_t snapshot_rev = 0;
  bool snapshot_in_flight = false;
  std::uint64_t joins_seen = 0;
  std::uint64_t idle_generation = 0;
  bool moving = false; // the owner changed: commit what is pending, then close

  static inline const char* name = "document";
};

using document_self = document_actor_api::stateful_pointer<document_actor_state>;

/// The actor of one open document (document_actor_api): loaded by the
/// registry, which gives it the document, its title, who may open it, its
/// newest snapshot's revision, its storage actor and itself. Joins without
/// view rights and edits without edit rights get `forbidden`.
document_actor_api::behavior_type document_actor(document_self self, std::shared_ptr<document> doc, std::string title,
                                                 auth::document_access access, std::uint64_t snapshot_rev,
                                                 storage_api store, registry_api registry,
                                                 document_actor_config config);

} // namespace stet
