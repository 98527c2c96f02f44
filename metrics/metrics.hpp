// The node's Prometheus metrics (prometheus-cpp). One registry per process;
// every metric object is thread-safe, so actors and Asio threads update them
// directly. Names follow Prometheus conventions; no label carries a document
// id (unbounded cardinality).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>

namespace stet::metrics {

struct node_metrics {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Gauge>& sessions_family;
  prometheus::Gauge& websocket_sessions;
  prometheus::Gauge& open_documents;
  prometheus::Gauge& history_bytes;
  prometheus::Family<prometheus::Counter>& edits_family;
  prometheus::Counter& edits_applied;
  prometheus::Counter& edits_duplicate;
  prometheus::Family<prometheus::Counter>& rejected_family;
  prometheus::Counter& conflicts;
  prometheus::Counter& slow_consumer_closes;
  prometheus::Counter& accept_errors;
  prometheus::Histogram& storage_commit_seconds;
  prometheus::Histogram& storage_batch_edits;
  prometheus::Counter& storage_snapshots;
  prometheus::Histogram& storage_load_seconds;
  prometheus::Counter& storage_errors;
  prometheus::Histogram& edit_latency_seconds;
  prometheus::Histogram& fanout_sessions;
  prometheus::Counter& frames_received;
  prometheus::Counter& bytes_received;
  prometheus::Counter& frames_sent;
  prometheus::Counter& bytes_sent;
  prometheus::Gauge& queued_frames;
  prometheus::Counter& read_pauses;
  prometheus::Gauge& paused_sessions;
  prometheus::Family<prometheus::Gauge>& redis_family;
  prometheus::Family<prometheus::Gauge>& ring_family;
  prometheus::Counter& document_moves;
  /// Stand-ins whose owner did not answer in time (re-attached elsewhere).
  prometheus::Counter& relay_timeouts;
  /// Sessions re-attached after a move, and those that could not be.
  prometheus::Counter& sessions_reattached;
  prometheus::Counter& reattach_failures;
  prometheus::Gauge& remote_documents;
  prometheus::Counter& document_loads;
  prometheus::Gauge& tcp_connections;
  prometheus::Family<prometheus::Counter>& auth_failures_family;
  prometheus::Family<prometheus::Counter>& rate_limited_family;
  prometheus::Histogram& redis_publish_seconds;
  prometheus::Counter& redis_reconnects;
  prometheus::Counter& redis_errors;
  prometheus::Family<prometheus::Counter>& bus_rejected_family;
  /// Redis Cluster: publishes and reconnects per shard (master "host:port").
  prometheus::Family<prometheus::Counter>& shard_publishes_family;
  prometheus::Family<prometheus::Counter>& shard_reconnects_family;
  /// REST reads with --postgres-read, by who served them: replica | primary.
  prometheus::Family<prometheus::Counter>& replica_reads_family;
  /// Webhook deliveries by outcome: delivered | failed | expired.
  prometheus::Family<prometheus::Counter>& webhook_family;
  prometheus::Gauge& webhook_outbox_depth;
  /// Spans of traced edits by outcome: exported | dropped (the buffer was
  /// full) | lost (the collector failed) | over_budget (edits not traced:
  /// past the node's traced edits per second).
  prometheus::Family<prometheus::Counter>& trace_spans_family;
  /// Cluster-only gauges: absent on a single node (so "Redis down" cannot fire there).
  prometheus::Gauge* redis_connected = nullptr;
  prometheus::Gauge* cluster_nodes = nullptr;
  void enable_cluster_metrics();

  node_metrics();

  /// Counts an edit or message rejected with the wire error `code`.
  void rejected(std::string_view code);
  /// Counts a refused credential: reason is bad_password | bad_token | no_token.
  void auth_failure(std::string_view reason);
  /// Counts a request refused by a rate limit: limit is edits | logins |
  /// connections | registrations | password_hashes.
  void rate_limited(std::string_view limit);
  /// Counts a bus payload dropped unread: reason is malformed | bad_mac |
  /// stale | nested_batch | undecodable | foreign_member.
  void bus_rejected(std::string_view reason);
  void shard_published(const std::string& shard);
  void shard_reconnected(const std::string& shard);
  void replica_read(std::string_view served_by);
  void webhook(std::string_view outcome, double n = 1);
  void trace_spans(std::string_view outcome, double n);
  /// The registry in Prometheus text exposition format.
  std::string scrape() const;
};

/// The process-wide metrics.
node_metrics& get();

} // namespace stet::metrics
