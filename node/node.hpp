// A whole stet node wired together from its options: storage backend,
// storage actors, registry, Redis bridge and the HTTP/WebSocket gateway.
#pragma once

#include "actors/registry_actor.hpp"
#include "auth/jwt.hpp"
#include "gateway/gateway_context.hpp"

#include <string>
#include <vector>

namespace stet {

struct endpoint_option {
  std::string host;
  unsigned short port = 0;
};

struct node_options {
  endpoint_option listen{"127.0.0.1", 8080};
  /// A second port serving only /metrics, /healthz and /readyz (none when
  /// its host is empty), so scrapes and probes need not share the public one.
  endpoint_option metrics_listen;
  /// Folder of the embedded SQLite database.
  std::string data_dir = "data";
  /// PostgreSQL connection (libpq URL or key=value); empty = embedded SQLite.
  std::string postgres;
  /// Redis (redis://[[USER]:PASSWORD@]HOST:PORT): makes this node a
  /// cluster member; needs PostgreSQL (documents must be shared storage)
  /// and `cluster_secret`.
  std::string redis;
  /// Redis Sentinel: HOST:PORT,... and the monitored master's name; the
  /// master is found (and followed) through them, `redis` gives the login.
  std::string redis_sentinel;
  std::string redis_master;
  /// A streaming replica of --postgres for REST reads (libpq URL or key=value).
  std::string postgres_read;
  /// Redis Cluster seed nodes (HOST:PORT,...): document channels on sharded pub/sub.
  std::string redis_cluster;
  /// The key every node of the cluster seals its bus messages and
  /// membership entries with (at least 32 bytes; required with `redis`).
  std::string cluster_secret;
  /// Storage connections (storage actors) when on PostgreSQL. Each group-
  /// commits on its own; measured with PostgreSQL on the same two cores,
  /// two beat four (fewer, larger transactions: ack p99 4 vs 13 ms at
  /// 12.8k edits/s). A remote server with a long round trip may want more.
  int storage_connections = 2;
  std::string node_id = "local";
  int io_threads = 1;
  /// CAF scheduler threads; 0: one per CPU this process may use.
  int actor_threads = 0;
  gateway_limits limits;
  registry_config registry;
  /// HMAC key for tokens; empty: refuse to start unless allow_anonymous,
  /// which then uses a random key kept in data_dir/auth.secret.
  std::string auth_secret;
  bool allow_anonymous = false;
  std::int64_t token_ttl_seconds = 24 * 3600;
  std::vector<std::string> allowed_origins;
  /// An application's identity provider: where its keys are, and the
  /// issuer and audience its tokens must name.
  auth::jwt_settings jwt{};
  /// Receivers of webhooks (none: no outbox is written) and their key.
  std::vector<std::string> webhook_urls;
  std::string webhook_secret;
  std::chrono::milliseconds webhook_debounce{2000};
  std::chrono::milliseconds webhook_max_wait{10000};
  /// An OTLP/HTTP collector that receives the spans of traced edits ("":
  /// none, and no edit is traced).
  std::string otlp_endpoint;
  /// CIDR blocks of reverse proxies whose X-Forwarded-For is believed.
  std::vector<std::string> trusted_proxies;
  /// Static web client folder ("" = none).
  std::string web_root;
};

/// Runs until SIGINT or SIGTERM. Returns the process exit code; start-up
/// failures (storage, port in use) are logged with the reason.
int run_node(const node_options& options);

} // namespace stet
