// stet: real-time collaborative documents. `stet serve --help` lists the flags.
#include "gateway/server.hpp"
#include "metrics/log.hpp"

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view k_usage = R"(usage: stet serve [flags]

  --listen HOST:PORT        address to serve HTTP and WebSocket on (default 127.0.0.1:8080; env STET_LISTEN)
  --data DIR                folder for the embedded SQLite database (default ./data; env STET_DATA)
  --postgres URL            store everything in PostgreSQL instead (libpq URL or key=value; env STET_POSTGRES_URL)
  --storage-connections N   PostgreSQL connections, one storage actor each (default 4)
  --node-id ID              this node's name in logs and session ids (default local; env STET_NODE_ID)
  --log-level LEVEL         debug | info | warn | error (default info; env STET_LOG_LEVEL)
  --max-frame-bytes N       largest WebSocket frame (default 1048576)
  --max-doc-bytes N         largest document in bytes (default 16777216)
  --max-queued-frames N     frames queued per session before it is closed as slow (default 4096)
  --idle-timeout-ms N       how long a document without clients stays open (default 5000)
  --snapshot-every N        revisions between snapshots (default 1000)
  --io-threads N            Asio threads (default 1)
  --actor-threads N         CAF scheduler threads (default 2)
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

void parse_listen(const std::string& value, stet::server_options& opt) {
  auto colon = value.rfind(':');
  if (colon == std::string::npos)
    usage_error("--listen needs HOST:PORT, got \"" + value + "\"");
  opt.host = value.substr(0, colon);
  auto port = parse_size("--listen", value.substr(colon + 1));
  if (port > 65535)
    usage_error("--listen port must be at most 65535");
  opt.port = static_cast<unsigned short>(port);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view{argv[1]} != "serve") {
    std::cerr << k_usage;
    return argc >= 2 && (std::string_view{argv[1]} == "--help" || std::string_view{argv[1]} == "-h") ? 0 : 2;
  }
  stet::server_options opt;
  auto env = [](const char* name) -> const char* { return std::getenv(name); };
  if (auto v = env("STET_LISTEN"))
    parse_listen(v, opt);
  if (auto v = env("STET_DATA"))
    opt.data_dir = v;
  if (auto v = env("STET_POSTGRES_URL"))
    opt.postgres = v;
  if (auto v = env("STET_NODE_ID"))
    opt.node_id = v;
  std::string log_level = env("STET_LOG_LEVEL") ? env("STET_LOG_LEVEL") : "info";
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << k_usage;
      return 0;
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
      parse_listen(value, opt);
    else if (flag == "--data")
      opt.data_dir = value;
    else if (flag == "--postgres")
      opt.postgres = value;
    else if (flag == "--storage-connections")
      opt.storage_connections = static_cast<int>(std::max<std::size_t>(1, parse_size(flag, value)));
    else if (flag == "--node-id")
      opt.node_id = value;
    else if (flag == "--log-level")
      log_level = value;
    else if (flag == "--max-frame-bytes")
      opt.limits.max_frame_bytes = parse_size(flag, value);
    else if (flag == "--max-doc-bytes")
      opt.registry.limits.max_bytes = parse_size(flag, value);
    else if (flag == "--max-queued-frames")
      opt.limits.max_queued_frames = parse_size(flag, value);
    else if (flag == "--idle-timeout-ms")
      opt.registry.document.idle_timeout = std::chrono::milliseconds{parse_size(flag, value)};
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
  return stet::run_server(opt);
}
