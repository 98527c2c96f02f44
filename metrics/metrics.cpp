#include "metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace stet::metrics {

namespace {

prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
}

} // namespace

node_metrics::node_metrics()
  : sessions_family(prometheus::BuildGauge()
                      .Name("stet_websocket_sessions")
                      .Help("Open WebSocket sessions on this node")
                      .Register(*registry)),
    websocket_sessions(sessions_family.Add({})),
    open_documents(prometheus::BuildGauge()
                     .Name("stet_open_documents")
                     .Help("Documents this node owns and has open: its share of the shards")
                     .Register(*registry)
                     .Add({})),
    history_bytes(prometheus::BuildGauge()
                    .Name("stet_document_history_bytes")
                    .Help("Memory the open documents' revision histories hold (estimated), for transforming "
                          "stale edits and resuming clients")
                    .Register(*registry)
                    .Add({})),
    edits_family(prometheus::BuildCounter()
                   .Name("stet_edits_total")
                   .Help("Edits received by document actors, by outcome")
                   .Register(*registry)),
    edits_applied(edits_family.Add({{"outcome", "applied"}})),
    edits_duplicate(edits_family.Add({{"outcome", "duplicate"}})),
    rejected_family(prometheus::BuildCounter()
                      .Name("stet_rejected_messages_total")
                      .Help("Client messages answered with an error, by error code")
                      .Register(*registry)),
    conflicts(prometheus::BuildCounter()
                .Name("stet_conflicts_total")
                .Help("Changes undone by a later edit under the lww policy")
                .Register(*registry)
                .Add({})),
    slow_consumer_closes(prometheus::BuildCounter()
                           .Name("stet_slow_consumer_closes_total")
                           .Help("Sessions closed because their send queue overflowed or a write to them timed out")
                           .Register(*registry)
                           .Add({})),
    accept_errors(prometheus::BuildCounter()
                    .Name("stet_accept_errors_total")
                    .Help("Failed accepts (such as running out of file descriptors); the listener backs off")
                    .Register(*registry)
                    .Add({})),
    storage_commit_seconds(prometheus::BuildHistogram()
                             .Name("stet_storage_commit_seconds")
                             .Help("Duration of one group-commit transaction")
                             .Register(*registry)
                             .Add({}, latency_buckets())),
    storage_batch_edits(prometheus::BuildHistogram()
                          .Name("stet_storage_batch_edits")
                          .Help("Edits per group-commit transaction")
                          .Register(*registry)
                          .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
                                                                          1024, 4096})),
    storage_snapshots(prometheus::BuildCounter()
                        .Name("stet_storage_snapshots_total")
                        .Help("Document snapshots stored (each compacts the op log)")
                        .Register(*registry)
                        .Add({})),
    storage_load_seconds(prometheus::BuildHistogram()
                           .Name("stet_storage_load_seconds")
                           .Help("Reading one document (snapshot, op log, clients, access list) from storage")
                           .Register(*registry)
                           .Add({}, latency_buckets())),
    storage_errors(prometheus::BuildCounter()
                     .Name("stet_storage_errors_total")
                     .Help("Failed storage operations (each is retried or reported)")
                     .Register(*registry)
                     .Add({})),
    edit_latency_seconds(prometheus::BuildHistogram()
                           .Name("stet_edit_latency_seconds")
                           .Help("From an edit's arrival at its document actor to its ack and broadcast "
                                 "(after the commit)")
                           .Register(*registry)
                           .Add({}, latency_buckets())),
    fanout_sessions(prometheus::BuildHistogram()
                      .Name("stet_fanout_sessions")
                      .Help("Sessions that received one applied edit")
                      .Register(*registry)
                      .Add({}, prometheus::Histogram::BucketBoundaries{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000})),
    frames_received(prometheus::BuildCounter()
                      .Name("stet_websocket_frames_received_total")
                      .Help("WebSocket frames read from clients")
                      .Register(*registry)
                      .Add({})),
    bytes_received(prometheus::BuildCounter()
                     .Name("stet_websocket_received_bytes_total")
                     .Help("Bytes of WebSocket frames read from clients")
                     .Register(*registry)
                     .Add({})),
    frames_sent(prometheus::BuildCounter()
                  .Name("stet_websocket_frames_sent_total")
                  .Help("WebSocket frames written to clients")
                  .Register(*registry)
                  .Add({})),
    bytes_sent(prometheus::BuildCounter()
                 .Name("stet_websocket_sent_bytes_total")
                 .Help("Bytes of WebSocket frames written to clients")
                 .Register(*registry)
                 .Add({})),
    queued_frames(prometheus::BuildGauge()
                    .Name("stet_send_queue_frames")
                    .Help("Frames waiting in sessions' send queues, summed over sessions")
                    .Register(*registry)
                    .Add({})),
    read_pauses(prometheus::BuildCounter()
                  .Name("stet_read_pauses_total")
                  .Help("Times a session stopped reading because the node was behind on what sessions read")
                  .Register(*registry)
                  .Add({})),
    paused_sessions(prometheus::BuildGauge()
                      .Name("stet_paused_sessions")
                      .Help("Sessions not reading until the node catches up on what sessions read")
                      .Register(*registry)
                      .Add({})),
    redis_family(prometheus::BuildGauge()
                   .Name("stet_redis_connected")
                   .Help("1 while this node's Redis command connection is up (cluster nodes)")
                   .Register(*registry)),
    ring_family(prometheus::BuildGauge()
                  .Name("stet_cluster_nodes")
                  .Help("Live nodes in the membership this node sees")
                  .Register(*registry)),
    document_moves(prometheus::BuildCounter()
                     .Name("stet_document_moves_total")
                     .Help("Documents this node handed to another owner after a membership change")
                     .Register(*registry)
                     .Add({})),
    relay_timeouts(prometheus::BuildCounter()
                     .Name("stet_relay_timeouts_total")
                     .Help("Documents whose owner on another node did not answer a relayed join or edit in time")
                     .Register(*registry)
                     .Add({})),
    sessions_reattached(prometheus::BuildCounter()
                          .Name("stet_sessions_reattached_total")
                          .Help("Sessions this node re-attached to a document's new owner, unnoticed by the client")
                          .Register(*registry)
                          .Add({})),
    reattach_failures(prometheus::BuildCounter()
                        .Name("stet_reattach_failures_total")
                        .Help("Sessions this node could not re-attach in time (the client was told to join again)")
                        .Register(*registry)
                        .Add({})),
    remote_documents(prometheus::BuildGauge()
                       .Name("stet_remote_documents")
                       .Help("Documents other nodes own that this node's sessions have joined")
                       .Register(*registry)
                       .Add({})),
    document_loads(prometheus::BuildCounter()
                     .Name("stet_document_loads_total")
                     .Help("Documents read from storage (cold joins and reads of closed documents)")
                     .Register(*registry)
                     .Add({})),
    tcp_connections(prometheus::BuildGauge()
                      .Name("stet_connections")
                      .Help("Open TCP connections (HTTP and WebSocket)")
                      .Register(*registry)
                      .Add({})),
    auth_failures_family(prometheus::BuildCounter()
                           .Name("stet_auth_failures_total")
                           .Help("Refused credentials, by reason")
                           .Register(*registry)),
    rate_limited_family(prometheus::BuildCounter()
                          .Name("stet_rate_limited_total")
                          .Help("Requests refused by a rate limit, by limit")
                          .Register(*registry)),
    redis_publish_seconds(prometheus::BuildHistogram()
                            .Name("stet_redis_publish_seconds")
                            .Help("From handing a message to the Redis bridge to Redis' reply to its PUBLISH")
                            .Register(*registry)
                            .Add({}, latency_buckets())),
    redis_reconnects(prometheus::BuildCounter()
                       .Name("stet_redis_reconnects_total")
                       .Help("Times the Redis command connection came back after being lost")
                       .Register(*registry)
                       .Add({})),
    redis_errors(prometheus::BuildCounter()
                   .Name("stet_redis_errors_total")
                   .Help("Redis commands that failed or got no reply (connection lost)")
                   .Register(*registry)
                   .Add({})),
    bus_rejected_family(prometheus::BuildCounter()
                          .Name("stet_bus_rejected_total")
                          .Help("Bus payloads and membership entries dropped unread (forged, replayed or malformed), by reason")
                          .Register(*registry)),
    shard_publishes_family(prometheus::BuildCounter()
                             .Name("stet_redis_shard_publishes_total")
                             .Help("Publications a Redis Cluster shard accepted, by shard (its master, host:port)")
                             .Register(*registry)),
    shard_reconnects_family(prometheus::BuildCounter()
                              .Name("stet_redis_shard_reconnects_total")
                              .Help("Times the links to a Redis Cluster shard were made again after being lost")
                              .Register(*registry)),
    replica_reads_family(prometheus::BuildCounter()
                           .Name("stet_replica_reads_total")
                           .Help("REST reads of documents and history with a read replica, by who served them: "
                                 "replica, or primary (the replica failed or was behind)")
                           .Register(*registry)),
    webhook_family(prometheus::BuildCounter()
                     .Name("stet_webhook_deliveries_total")
                     .Help("Webhook deliveries by outcome: delivered (2xx from a receiver), failed (will be "
                           "retried), expired (given up after 24 hours)")
                     .Register(*registry)),
    webhook_outbox_depth(prometheus::BuildGauge()
                           .Name("stet_webhook_outbox_depth")
                           .Help("Webhook events waiting in the outbox (as this node last counted them)")
                           .Register(*registry)
                           .Add({})),
    trace_spans_family(prometheus::BuildCounter()
                         .Name("stet_trace_spans_total")
                         .Help("Spans of traced edits by outcome: exported, dropped (buffer full), lost (the "
                               "collector failed), over_budget (edits left untraced past the node's budget)")
                         .Register(*registry)) {
  // Every known label value from the start: a rate over a series that
  // appears only with its first event would miss that event.
  for (auto reason : {"bad_password", "bad_token", "no_token"})
    auth_failures_family.Add({{"reason", reason}});
  for (auto limit : {"edits", "joins", "logins", "connections", "registrations", "password_hashes", "documents",
                     "versions", "comments"})
    rate_limited_family.Add({{"limit", limit}});
  for (auto reason : {"malformed", "bad_mac", "stale", "nested_batch", "undecodable", "foreign_member"})
    bus_rejected_family.Add({{"reason", reason}});
  for (auto outcome : {"delivered", "failed", "expired"})
    webhook_family.Add({{"outcome", outcome}});
  for (auto outcome : {"exported", "dropped", "lost", "over_budget"})
    trace_spans_family.Add({{"outcome", outcome}});
  prometheus::BuildGauge()
    .Name("stet_build_info")
    .Help("Build of this node (value 1)")
    .Register(*registry)
    .Add({{"version", STET_VERSION}})
    .Set(1);
}

void node_metrics::enable_cluster_metrics() {
  redis_connected = &redis_family.Add({});
  cluster_nodes = &ring_family.Add({});
}

void node_metrics::bus_rejected(std::string_view reason) {
  bus_rejected_family.Add({{"reason", std::string{reason}}}).Increment();
}

void node_metrics::shard_published(const std::string& shard) {
  shard_publishes_family.Add({{"shard", shard}}).Increment();
}

void node_metrics::shard_reconnected(const std::string& shard) {
  shard_reconnects_family.Add({{"shard", shard}}).Increment();
}

void node_metrics::replica_read(std::string_view served_by) {
  replica_reads_family.Add({{"served_by", std::string{served_by}}}).Increment();
}

void node_metrics::trace_spans(std::string_view outcome, double n) {
  trace_spans_family.Add({{"outcome", std::string{outcome}}}).Increment(n);
}

void node_metrics::webhook(std::string_view outcome, double n) {
  webhook_family.Add({{"outcome", std::string{outcome}}}).Increment(n);
}

void node_metrics::rejected(std::string_view code) {
  rejected_family.Add({{"code", std::string{code}}}).Increment();
}

void node_metrics::auth_failure(std::string_view reason) {
  auth_failures_family.Add({{"reason", std::string{reason}}}).Increment();
}

void node_metrics::rate_limited(std::string_view limit) {
  rate_limited_family.Add({{"limit", std::string{limit}}}).Increment();
}

std::string node_metrics::scrape() const {
  return prometheus::TextSerializer{}.Serialize(registry->Collect());
}

node_metrics& get() {
  static node_metrics instance;
  return instance;
}

} // namespace stet::metrics
