// stet: real-time collaborative documents. `stet serve --help` lists the flags.
#include "gateway/server.hpp"
#include "metrics/log.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view k_usage = R"(usage: stet serve [flags]

  --listen HOST:PORT        address to serve HTTP and WebSocket on (default 127.0.0.1:8080; env STET_LISTEN)
  --metrics-listen HOST:PORT  also serve /metrics, /healthz and /readyz (only) here (env STET_METRICS_LISTEN)
  --data DIR                folder for the embedded SQLite database (default ./data; env STET_DATA)
  --postgres URL            store everything in PostgreSQL instead (libpq URL or key=value; env STET_POSTGRES_URL)
  --storage-connections N   PostgreSQL connections, one storage actor each (default 2)
  --redis URL               join a cluster through Redis (redis://[[USER]:PASSWORD@]HOST:PORT;
                            env STET_REDIS_URL; needs --postgres and a cluster key)
  --cluster-secret-file F   file holding the key every node seals its bus messages with, at least 32 bytes
                            (env STET_CLUSTER_SECRET: the key itself)
  --node-id ID              this node's name in logs and session ids (default local; env STET_NODE_ID)
  --log-level LEVEL         debug | info | warn | error (default info; env STET_LOG_LEVEL)
  --max-frame-bytes N       largest WebSocket frame (default 1048576)
  --max-doc-bytes N         largest document in bytes (default 16777216)
  --history-bytes N         memory each open document keeps of recent revisions, to transform stale
                            edits and resume clients without a snapshot (default 8388608; also at most
                            10000 revisions)
  --history-seconds N       ... and how long revisions stay once a document has 100 newer (default 60)
  --max-queued-frames N     frames queued per session before it is closed as slow (default 4096)
  --max-queued-bytes-per-ip N  bytes queued for all sessions of one address before the one adding
                            to it is closed as slow (default 67108864)
  --write-timeout-ms N      a write to a client may take this long before the client is closed as one
                            that does not read (default 30000)
  --read-backlog-frames N   frames read and not yet handled (an edit: until its owner ordered it),
                            node-wide, past which sessions stop reading until half are
                            (default 16384; 0: never)
  --idle-timeout-ms N       how long a document without clients stays open (default 5000)
  --snapshot-every N        revisions between snapshots (default 1000)
  --cursor-interval-ms N    a document relays cursor moves at most this often, coalesced per client (default 100)
  --roster-interval-ms N    ... and joins and leaves at most this often (default 1000); after a quiet interval
                            the first change goes at once
  --auth-secret-file F      file holding the token signing key (env STET_AUTH_SECRET: the key itself)
  --allow-anonymous         sessions and requests without a token may use documents without an owner
  --token-ttl-seconds N     lifetime of login tokens (default 86400)
  --allowed-origin ORIGIN   an Origin allowed to open WebSockets (repeatable; default: the server's own
                            address, when pages are served under an IP address or localhost)
  --trusted-proxy CIDR      a reverse proxy whose X-Forwarded-For names the client for per-address
                            limits (repeatable; default: none, every peer is the client)
  --web-root DIR            serve the web client from DIR at / (default: web/dist of the checkout the binary
                            was built from; "" serves none)
  --max-edits-per-second N  per session (default 500; per user twice that)
  --max-connections-per-ip N  (default 256)
  --max-joins-per-second N  per session (default 20, burst twice that)
  --max-documents-per-hour N  documents a user may create (default 1000; an anonymous address a tenth)
  --max-password-hashes N   password checks queued or running at once; past it logins and
                            registrations get 503 (default 64)
  --io-threads N            Asio threads (default 1)
  --actor-threads N         CAF scheduler threads (default: one per CPU it may use)
)";

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "stet: " << message << "\n\n" << k_usage;
  std::exit(2);
}

std::size_t parse_size(const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    auto n = std::stoull(value, &used);
    if (used == value.size())
      return n;
  } catch (...) {
  }
  usage_error(flag + " needs a whole number, got \"" + value + "\"");
}

stet::endpoint_option parse_endpoint(const std::string& flag, const std::string& value) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos)
    usage_error(flag + " needs HOST:PORT, got \"" + value + "\"");
  auto port = parse_size(flag, value.substr(colon + 1));
  if (port > 65535)
    usage_error(flag + " port must be at most 65535");
  return {value.substr(0, colon), static_cast<unsigned short>(port)};
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view{argv[1]} != "serve") {
    std::cerr << k_usage;
    return argc >= 2 && (std::string_view{argv[1]} == "--help" || std::string_view{argv[1]} == "-h") ? 0 : 2;
  }
  stet::server_options opt;
  opt.web_root = STET_DEFAULT_WEB_ROOT;
  auto env = [](const char* name) -> const char* { return std::getenv(name); };
  if (auto v = env("STET_LISTEN"))
    opt.listen = parse_endpoint("STET_LISTEN", v);
  if (auto v = env("STET_METRICS_LISTEN"))
    opt.metrics_listen = parse_endpoint("STET_METRICS_LISTEN", v);
  if (auto v = env("STET_DATA"))
    opt.data_dir = v;
  if (auto v = env("STET_AUTH_SECRET"))
    opt.auth_secret = v;
  if (auto v = env("STET_POSTGRES_URL"))
    opt.postgres = v;
  if (auto v = env("STET_REDIS_URL"))
    opt.redis = v;
  if (auto v = env("STET_CLUSTER_SECRET"))
    opt.cluster_secret = v;
  if (auto v = env("STET_NODE_ID"))
    opt.node_id = v;
  std::string log_level = env("STET_LOG_LEVEL") ? env("STET_LOG_LEVEL") : "info";
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << k_usage;
      return 0;
    }
    if (flag == "--allow-anonymous") {
      opt.allow_anonymous = true;
      continue;
    }
    std::string value;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error(flag + " needs a value");
    }
    if (flag == "--listen")
      opt.listen = parse_endpoint(flag, value);
    else if (flag == "--metrics-listen")
      opt.metrics_listen = parse_endpoint(flag, value);
    else if (flag == "--data")
      opt.data_dir = value;
    else if (flag == "--postgres")
      opt.postgres = value;
    else if (flag == "--redis")
      opt.redis = value;
    else if (flag == "--storage-connections")
      opt.storage_connections = static_cast<int>(std::max<std::size_t>(1, parse_size(flag, value)));
    else if (flag == "--cluster-secret-file") {
      std::ifstream in{value};
      if (!in)
        usage_error("cannot read --cluster-secret-file " + value);
      std::getline(in, opt.cluster_secret);
      if (opt.cluster_secret.size() < 32)
        usage_error("the key in " + value + " must be at least 32 bytes");
    } else if (flag == "--auth-secret-file") {
      std::ifstream in{value};
      if (!in)
        usage_error("cannot read --auth-secret-file " + value);
      std::getline(in, opt.auth_secret);
      if (opt.auth_secret.size() < 32)
        usage_error("the key in " + value + " must be at least 32 characters");
    } else if (flag == "--token-ttl-seconds")
      opt.token_ttl_seconds = static_cast<std::int64_t>(parse_size(flag, value));
    else if (flag == "--allowed-origin")
      opt.allowed_origins.push_back(value);
    else if (flag == "--trusted-proxy")
      opt.trusted_proxies.push_back(value);
    else if (flag == "--web-root")
      opt.web_root = value;
    else if (flag == "--max-edits-per-second") {
      opt.limits.edits_per_second_per_session = static_cast<double>(parse_size(flag, value));
      opt.limits.edits_per_second_per_user = 2 * opt.limits.edits_per_second_per_session;
    } else if (flag == "--max-connections-per-ip")
      opt.limits.max_connections_per_ip = parse_size(flag, value);
    else if (flag == "--node-id")
      opt.node_id = value;
    else if (flag == "--log-level")
      log_level = value;
    else if (flag == "--max-frame-bytes")
      opt.limits.max_frame_bytes = parse_size(flag, value);
    else if (flag == "--max-doc-bytes")
      opt.registry.limits.max_bytes = parse_size(flag, value);
    else if (flag == "--history-bytes")
      opt.registry.limits.history_bytes = parse_size(flag, value);
    else if (flag == "--history-seconds")
      opt.registry.limits.history_age_ms = 1000 * parse_size(flag, value);
    else if (flag == "--max-queued-frames")
      opt.limits.max_queued_frames = parse_size(flag, value);
    else if (flag == "--max-joins-per-second")
      opt.limits.joins_per_second_per_session = static_cast<double>(std::max<std::size_t>(1, parse_size(flag, value)));
    else if (flag == "--max-documents-per-hour") {
      opt.limits.documents_per_hour_per_user = static_cast<double>(std::max<std::size_t>(1, parse_size(flag, value)));
      opt.limits.documents_per_hour_per_ip = std::max(1.0, opt.limits.documents_per_hour_per_user / 10);
    } else if (flag == "--max-password-hashes")
      opt.limits.max_password_hashes = std::max<std::size_t>(1, parse_size(flag, value));
    else if (flag == "--max-queued-bytes-per-ip")
      opt.limits.max_queued_bytes_per_ip = parse_size(flag, value);
    else if (flag == "--write-timeout-ms")
      opt.limits.write_timeout = std::chrono::milliseconds{std::max<std::size_t>(1, parse_size(flag, value))};
    else if (flag == "--read-backlog-frames")
      opt.limits.read_backlog_frames = parse_size(flag, value);
    else if (flag == "--idle-timeout-ms")
      opt.registry.document.idle_timeout = std::chrono::milliseconds{parse_size(flag, value)};
    else if (flag == "--cursor-interval-ms")
      opt.registry.document.cursor_interval = std::chrono::milliseconds{parse_size(flag, value)};
    else if (flag == "--roster-interval-ms")
      opt.registry.document.roster_interval = std::chrono::milliseconds{parse_size(flag, value)};
    else if (flag == "--snapshot-every")
      opt.registry.document.snapshot_every = std::max<std::size_t>(1, parse_size(flag, value));
    else if (flag == "--io-threads")
      opt.io_threads = static_cast<int>(std::max<std::size_t>(1, parse_size(flag, value)));
    else if (flag == "--actor-threads")
      opt.actor_threads = static_cast<int>(std::max<std::size_t>(1, parse_size(flag, value)));
    else
      usage_error("unknown flag " + flag);
  }
  stet::log::level lvl;
  if (!stet::log::parse_level(log_level, lvl))
    usage_error("--log-level must be debug, info, warn or error");
  stet::log::set_level(lvl);
  stet::log::set_node(opt.node_id);
  return stet::run_server(opt);
}
