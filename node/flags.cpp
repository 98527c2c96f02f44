#include "node/flags.hpp"

#include "actors/redis_sentinel.hpp"

#include "gateway/webhook_client.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <limits>

namespace stet {

namespace {

// "HOST:PORT" (the host may be an IPv6 literal in brackets or not).
std::optional<endpoint_option> parse_endpoint(const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos || colon + 1 == value.size())
    return std::nullopt;
  std::size_t port = 0;
  for (auto c : value.substr(colon + 1)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + static_cast<std::size_t>(c - '0');
    if (port > 65535)
      return std::nullopt;
  }
  auto host = value.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return endpoint_option{host, static_cast<unsigned short>(port)};
}

// The key in `path`: its first line, at least 32 bytes. Errors never show
// the path: given the key itself by mistake, stderr would show the key.
std::string read_key(const std::string& flag, const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw CLI::ValidationError(flag, "cannot read the file it names (does it exist, and may stet read it?)");
  std::string key;
  std::getline(in, key);
  if (key.size() < 32)
    throw CLI::ValidationError(flag, "the key in the file it names must be at least 32 bytes");
  return key;
}

} // namespace

parsed_flags parse_flags(int argc, const char* const* argv, node_options opt) {
  CLI::App app{"stet: real-time collaborative documents", "stet"};
  app.require_subcommand(1, 1);
  auto* serve = app.add_subcommand("serve", "run a node (the flags below; `stet serve --help`)");
  serve->get_formatter()->column_width(34);
  // A flag given twice: the later one counts (scripts append overrides).
  serve->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  parsed_flags out;

  std::string listen = opt.listen.host + ":" + std::to_string(opt.listen.port), metrics_listen;
  serve->add_option("--listen", listen, "address to serve HTTP and WebSocket on (HOST:PORT)")
    ->envname("STET_LISTEN")
    ->capture_default_str();
  serve->add_option("--metrics-listen", metrics_listen, "also serve /metrics, /healthz and /readyz (only) here")
    ->envname("STET_METRICS_LISTEN");
  serve->add_option("--data", opt.data_dir, "folder for the embedded SQLite database")
    ->envname("STET_DATA")
    ->capture_default_str();
  serve->add_option("--postgres", opt.postgres, "store everything in PostgreSQL (libpq URL or key=value)")
    ->envname("STET_POSTGRES_URL");
  serve->add_option("--postgres-read", opt.postgres_read,
                    "read documents and history for the REST API from this streaming replica of --postgres, and "
                    "from the primary when the replica is down or behind the revision asked for")
    ->envname("STET_POSTGRES_READ_URL");
  serve->add_option("--storage-connections", opt.storage_connections,
                    "PostgreSQL connections, one storage actor each")
    ->check(CLI::Range(1, 1024))
    ->capture_default_str();
  serve->add_option("--redis", opt.redis,
                    "join a cluster through Redis (redis://[[USER]:PASSWORD@]HOST:PORT); needs --postgres and a "
                    "cluster key")
    ->envname("STET_REDIS_URL");
  serve->add_option("--redis-sentinel", opt.redis_sentinel,
                    "find the Redis master through these sentinels (HOST:PORT,...) and follow its failovers; with "
                    "--redis-master (then --redis gives only the login, if any)");
  serve->add_option("--redis-master", opt.redis_master, "the master's name the sentinels monitor");
  serve->add_option("--redis-cluster", opt.redis_cluster,
                    "Redis is a Redis Cluster reached through these nodes (HOST:PORT,...): each document's channels "
                    "live on the shard of its slot (sharded pub/sub); --redis then gives only the login, if any")
    ->envname("STET_REDIS_CLUSTER");
  std::string cluster_secret_file, auth_secret_file;
  serve->add_option("--cluster-secret-file", cluster_secret_file,
                    "file holding the key every node seals its bus messages with, at least 32 bytes (env "
                    "STET_CLUSTER_SECRET: the key itself)");
  serve->add_option("--node-id", opt.node_id, "this node's name in logs, session ids and the cluster")
    ->envname("STET_NODE_ID")
    ->capture_default_str();
  serve->add_option("--log-level", out.log_level, "debug | info | warn | error")
    ->envname("STET_LOG_LEVEL")
    ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
    ->capture_default_str();

  auto& limits = opt.limits;
  auto& doc = opt.registry.document;
  serve->add_option("--max-frame-bytes", limits.max_frame_bytes,
                    "largest WebSocket message, counted after decompression")
    ->capture_default_str();
  serve->add_option("--ws-compression", limits.compression_window_bits,
                    "offer permessage-deflate with windows of 2^BITS bytes (9-15) to clients that ask for it; 0: off "
                    "(each compressing connection keeps its zlib state: 27 KiB at 10 bits)")
    ->envname("STET_WS_COMPRESSION")
    ->check(CLI::IsMember({0, 9, 10, 11, 12, 13, 14, 15}))
    ->capture_default_str();
  serve->add_option("--max-doc-bytes", opt.registry.limits.max_bytes, "largest document in bytes")
    ->capture_default_str();
  serve->add_option("--history-bytes", opt.registry.limits.history_bytes,
                    "memory each open document keeps of recent revisions, to transform stale edits and resume "
                    "clients without a snapshot (also at most 10000 revisions)")
    ->capture_default_str();
  std::size_t history_seconds = opt.registry.limits.history_age_ms / 1000;
  serve->add_option("--history-seconds", history_seconds,
                    "... and how long revisions stay once a document has 100 newer")
    ->capture_default_str();
  serve->add_option("--max-queued-frames", limits.max_queued_frames,
                    "frames queued per session before it is closed as slow")
    ->capture_default_str();
  serve->add_option("--max-queued-bytes-per-ip", limits.max_queued_bytes_per_ip,
                    "bytes queued for all sessions of one address before the one adding to it is closed as slow")
    ->capture_default_str();
  std::size_t write_timeout_ms = static_cast<std::size_t>(limits.write_timeout.count());
  serve->add_option("--write-timeout-ms", write_timeout_ms,
                    "a write to a client may take this long before the client is closed as one that does not read")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  serve->add_option("--read-backlog-frames", limits.read_backlog_frames,
                    "frames read and not yet handled (an edit: until its owner ordered it), node-wide, past which "
                    "sessions stop reading until half are (0: never)")
    ->capture_default_str();
  std::size_t idle_ms = static_cast<std::size_t>(doc.idle_timeout.count());
  serve->add_option("--idle-timeout-ms", idle_ms, "how long a document without clients stays open")
    ->capture_default_str();
  std::size_t access_recheck_ms = static_cast<std::size_t>(doc.access_recheck.count());
  serve->add_option("--access-recheck-ms", access_recheck_ms,
                    "an open document with clients reads who may open it this often, so a revoke or delete whose "
                    "bus message was lost still holds")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  serve->add_option("--snapshot-every", doc.snapshot_every, "revisions between snapshots")
    ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()))
    ->capture_default_str();
  std::size_t cursor_ms = static_cast<std::size_t>(doc.cursor_interval.count());
  serve->add_option("--cursor-interval-ms", cursor_ms,
                    "a document relays cursor moves at most this often, coalesced per client")
    ->capture_default_str();
  std::size_t roster_ms = static_cast<std::size_t>(doc.roster_interval.count());
  serve->add_option("--roster-interval-ms", roster_ms,
                    "... and joins and leaves at most this often; after a quiet interval the first change goes "
                    "at once")
    ->capture_default_str();

  serve->add_option("--auth-secret-file", auth_secret_file,
                    "file holding the token signing key (env STET_AUTH_SECRET: the key itself)");
  serve->add_option("--jwt-public-key", opt.jwt.public_key_file,
                    "PEM public key (RSA: RS256, EC P-256: ES256) of an identity provider whose JWTs are accepted "
                    "as tokens beside stet's own");
  serve->add_option("--jwks-file", opt.jwt.jwks_file,
                    "JWKS document of the identity provider's keys, chosen by kid (re-read on SIGHUP)");
  serve->add_option("--jwt-secret-file", opt.jwt.secret_file, "file holding an HS256 secret (>= 32 bytes) for JWTs");
  serve->add_option("--jwt-issuer", opt.jwt.issuer, "the iss every JWT must carry (checked when set)");
  serve->add_option("--jwt-audience", opt.jwt.audience, "the aud every JWT must carry (checked when set)");
  std::string webhook_secret_file;
  std::size_t webhook_debounce_ms = 2000, webhook_max_wait_ms = 10000;
  serve->add_option("--webhook-url", opt.webhook_urls,
                    "an http:// or https:// URL that receives document and session events, signed (repeatable)")
    ->take_all();
  serve->add_option("--otlp-endpoint", opt.otlp_endpoint,
                    "an OTLP/HTTP collector (http:// or https://) that receives spans of edits whose client sent "
                    "a sampled W3C traceparent; spans are POSTed as JSON to <URL>/v1/traces")
    ->envname("STET_OTLP_ENDPOINT");
  serve->add_option("--webhook-secret-file", webhook_secret_file,
                    "file holding the key (>= 32 bytes) that signs webhook bodies (X-Stet-Signature)");
  serve->add_option("--webhook-debounce-ms", webhook_debounce_ms,
                    "a document's changes are sent once it was quiet this long...")
    ->capture_default_str();
  serve->add_option("--webhook-max-wait-ms", webhook_max_wait_ms, "... or at most this long after the first")
    ->capture_default_str();
  serve->add_flag("--allow-anonymous", opt.allow_anonymous,
                  "sessions and requests without a token may use documents without an owner");
  serve->add_option("--token-ttl-seconds", opt.token_ttl_seconds, "lifetime of login tokens")
    ->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()))
    ->capture_default_str();
  serve->add_option("--allowed-origin", opt.allowed_origins,
                    "an Origin allowed to open WebSockets (repeatable; default: the server's own address, when "
                    "pages are served under an IP address or localhost)")
    ->take_all();
  serve->add_option("--trusted-proxy", opt.trusted_proxies,
                    "a reverse proxy (CIDR) whose X-Forwarded-For names the client for per-address limits and "
                    "whose X-Forwarded-Proto: https turns on HSTS (repeatable)")
    ->take_all();
  serve->add_option("--web-root", opt.web_root, "serve the web client from this folder at / (\"\" serves none)")
    ->capture_default_str();

  std::size_t edits_per_second = static_cast<std::size_t>(limits.edits_per_second_per_session);
  serve->add_option("--max-edits-per-second", edits_per_second, "per session (per user twice that)")
    ->capture_default_str();
  serve->add_option("--max-connections-per-ip", limits.max_connections_per_ip, "connections from one address")
    ->capture_default_str();
  std::size_t joins_per_second = static_cast<std::size_t>(limits.joins_per_second_per_session);
  serve->add_option("--max-joins-per-second", joins_per_second, "per session (burst twice that)")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  std::size_t documents_per_hour = static_cast<std::size_t>(limits.documents_per_hour_per_user);
  serve->add_option("--max-documents-per-hour", documents_per_hour,
                    "documents a user may create (an anonymous address a tenth)")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  std::size_t logins_per_minute = static_cast<std::size_t>(limits.logins_per_minute);
  serve->add_option("--max-logins-per-minute", logins_per_minute,
                    "password checks per minute per (user name, address) and per account; an address six times "
                    "as many over all names")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  serve->add_option("--max-password-hashes", limits.max_password_hashes,
                    "password checks queued or running at once; past it logins and registrations get 503")
    ->check(CLI::Range(std::size_t{1}, std::numeric_limits<std::size_t>::max()))
    ->capture_default_str();
  serve->add_option("--io-threads", opt.io_threads, "Asio threads")->check(CLI::Range(1, 256))->capture_default_str();
  serve->add_option("--actor-threads", opt.actor_threads,
                    "CAF scheduler threads (default: one per CPU this process may use)")
    ->check(CLI::Range(1, 256));

  // CLI11 reads "-1" into an unsigned as its wrap-around, and integers in
  // any base ("010" is 8, "0x10" 16): numbers here are decimal, as the
  // help shows them, and never negative.
  const CLI::Validator decimal{[](std::string& v) -> std::string {
                                 auto digits = v.find_first_not_of('-') == 1 ? v.substr(1) : v;
                                 if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos)
                                   return "needs a decimal number, got \"" + v + "\"";
                                 auto first = digits.find_first_not_of('0');
                                 v = v.substr(0, v.size() - digits.size())
                                     + (first == std::string::npos ? "0" : digits.substr(first));
                                 return {};
                               },
                               ""};
  for (auto* o : serve->get_options()) {
    auto type = o->get_type_name(); // "UINT", "INT", "UINT:UINT in [1 - ...]" ...
    if (type.rfind("UINT", 0) == 0)
      o->check(CLI::NonNegativeNumber);
    if (type.rfind("UINT", 0) == 0 || type.rfind("INT", 0) == 0)
      o->transform(decimal);
  }

  auto fail = [&](const std::string& what) {
    std::cerr << "stet: " << what << "\n\nRun 'stet serve --help' for the flags.\n";
    out.exit_code = 2;
    return out;
  };
  try {
    app.parse(argc, argv);
    if (!cluster_secret_file.empty())
      opt.cluster_secret = read_key("--cluster-secret-file", cluster_secret_file);
    else if (auto* v = std::getenv("STET_CLUSTER_SECRET"))
      opt.cluster_secret = v;
    if (!auth_secret_file.empty())
      opt.auth_secret = read_key("--auth-secret-file", auth_secret_file);
    else if (auto* v = std::getenv("STET_AUTH_SECRET"))
      opt.auth_secret = v;
    if (!webhook_secret_file.empty())
      opt.webhook_secret = read_key("--webhook-secret-file", webhook_secret_file);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help(); // the subcommand's, once `serve` was seen
    out.exit_code = 0;
    return out;
  } catch (const CLI::ParseError& e) {
    return fail(e.what());
  }
  auto at = parse_endpoint(listen);
  if (!at)
    return fail("--listen needs HOST:PORT, got \"" + listen + "\"");
  opt.listen = *at;
  if (!metrics_listen.empty()) {
    auto ops = parse_endpoint(metrics_listen);
    if (!ops)
      return fail("--metrics-listen needs HOST:PORT, got \"" + metrics_listen + "\"");
    opt.metrics_listen = *ops;
  }
  if (opt.redis_sentinel.empty() != opt.redis_master.empty())
    return fail("--redis-sentinel and --redis-master go together: the sentinels, and the master's name they monitor");
  if (!opt.redis_sentinel.empty()) {
    if (auto s = parse_redis_hosts(opt.redis_sentinel); !s)
      return fail("--redis-sentinel " + s.error().message);
    // Only the login counts; the address is the master the sentinels name.
    if (opt.redis.empty())
      opt.redis = "redis://127.0.0.1:6379";
  }
  if (!opt.postgres_read.empty() && opt.postgres.empty())
    return fail("--postgres-read needs --postgres: it names a replica of that database");
  if (!opt.redis_cluster.empty()) {
    if (!opt.redis_sentinel.empty())
      return fail("--redis-cluster and --redis-sentinel exclude each other: a Redis Cluster fails over by itself");
    if (auto s = parse_redis_hosts(opt.redis_cluster); !s)
      return fail("--redis-cluster " + s.error().message);
    if (opt.redis.empty())
      opt.redis = "redis://127.0.0.1:6379";
  }
  if (!opt.webhook_urls.empty() && opt.webhook_secret.empty())
    return fail("--webhook-url needs --webhook-secret-file: receivers check every body's signature");
  for (auto& url : opt.webhook_urls)
    if (!parse_webhook_url(url))
      return fail("--webhook-url must be an http:// or https:// URL with a host, got \"" + url + "\"");
  if (!opt.otlp_endpoint.empty()
      && (!parse_webhook_url(opt.otlp_endpoint) || opt.otlp_endpoint.find_first_of("?#") != std::string::npos))
    return fail("--otlp-endpoint must be an http:// or https:// URL with a host and no query, got \""
                + opt.otlp_endpoint + "\"");
  // A receiver named twice would be sent everything twice.
  std::sort(opt.webhook_urls.begin(), opt.webhook_urls.end());
  opt.webhook_urls.erase(std::unique(opt.webhook_urls.begin(), opt.webhook_urls.end()), opt.webhook_urls.end());
  opt.webhook_debounce = std::chrono::milliseconds{webhook_debounce_ms};
  opt.webhook_max_wait = std::chrono::milliseconds{webhook_max_wait_ms};
  opt.registry.limits.history_age_ms = 1000 * history_seconds;
  limits.write_timeout = std::chrono::milliseconds{write_timeout_ms};
  doc.idle_timeout = std::chrono::milliseconds{idle_ms};
  doc.access_recheck = std::chrono::milliseconds{access_recheck_ms};
  doc.cursor_interval = std::chrono::milliseconds{cursor_ms};
  doc.roster_interval = std::chrono::milliseconds{roster_ms};
  limits.edits_per_second_per_session = static_cast<double>(edits_per_second);
  limits.edits_per_second_per_user = 2 * limits.edits_per_second_per_session;
  limits.joins_per_second_per_session = static_cast<double>(joins_per_second);
  limits.documents_per_hour_per_user = static_cast<double>(documents_per_hour);
  limits.logins_per_minute = static_cast<double>(logins_per_minute);
  limits.documents_per_hour_per_ip = std::max(1.0, limits.documents_per_hour_per_user / 10);
  out.options = std::move(opt);
  return out;
}

} // namespace stet
