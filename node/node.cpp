#include "node/node.hpp"

#include "actors/cluster_router.hpp"
#include "actors/redis_bridge.hpp"
#include "actors/storage_actor.hpp"
#include "auth/token.hpp"
#include "gateway/listener.hpp"
#include "gateway/webhook_client.hpp"
#include "node/trace_exporter.hpp"
#include "metrics/log.hpp"
#include "storage/pg_store.hpp"
#include "storage/sqlite_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sched.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace stet {

namespace net = boost::asio;

namespace {

// Waits (at most `limit`) until the registry has no document open or still
// handing over: a stopping node's last commits are answered, and the new
// owners load what they stored.
void hand_over(caf::actor_system& system, const registry_actor_api& registry, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  caf::scoped_actor self{system};
  while (std::chrono::steady_clock::now() < deadline) {
    std::uint64_t open = 1;
    self->request(registry, std::chrono::seconds(1), stats_atom::value)
      .receive([&](std::uint64_t documents, std::uint64_t) { open = documents; }, [&](caf::error&) {});
    if (open == 0)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  log::warn("documents still open when the node stopped; their new owners resume from what was committed");
}

// CPUs this process may run on (taskset, cgroup cpusets), not the machine's:
// measured on a server pinned to one core, a second actor worker only added
// context switches (92 instead of 80 us of CPU per edit, many documents).
int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Opens the configured backend: `count` PostgreSQL connections, or one
// SQLite file (SQLite has one writer anyway).
result<std::vector<std::unique_ptr<storage::store>>> open_stores(const node_options& opt) {
  std::vector<std::unique_ptr<storage::store>> stores;
  if (opt.postgres.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opt.data_dir, ec);
    auto path = (std::filesystem::path(opt.data_dir) / "stet.db").string();
    auto s = storage::sqlite_store::open(path);
    if (!s)
      return s.error();
    log::info("storage ready", {{"backend", "sqlite"}, {"path", path}});
    stores.push_back(std::move(*s));
    return stores;
  }
  for (int i = 0; i < std::max(1, opt.storage_connections); ++i) {
    auto s = storage::pg_store::open(opt.postgres);
    if (!s)
      return s.error();
    stores.push_back(std::move(*s));
  }
  log::info("storage ready", {{"backend", "postgres"}, {"connections", std::to_string(stores.size())}});
  return stores;
}

// The token key: given, or (only with --allow-anonymous) a random one kept
// in the data folder so tokens survive restarts of a quick-start node.
result<std::string> auth_secret(const node_options& opt) {
  if (!opt.auth_secret.empty()) {
    if (opt.auth_secret.size() < auth::token_signer::k_min_key_bytes)
      return make_error(errc::invalid_argument, "the token key must be at least 32 bytes");
    if (opt.auth_secret.rfind("CHANGE-ME", 0) == 0)
      return make_error(errc::invalid_argument, "the token key is the template's placeholder; generate one");
    return opt.auth_secret;
  }
  if (!opt.allow_anonymous)
    return make_error(errc::invalid_argument,
                      "no token key: set --auth-secret-file or STET_AUTH_SECRET "
                      "(or --allow-anonymous for a local quick start)");
  std::error_code ec;
  std::filesystem::create_directories(opt.data_dir, ec);
  auto path = std::filesystem::path(opt.data_dir) / "auth.secret";
  std::string secret;
  if (std::ifstream in{path}; in)
    std::getline(in, secret);
  if (secret.size() < 32) {
    // Written 0600 from the start, under another name, then renamed: no
    // moment where the key is readable by others or half written.
    secret = auth::random_hex(32);
    auto tmp = path.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auto line = secret + "\n";
    bool written = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())
                   && ::fsync(fd) == 0;
    if (fd >= 0)
      ::close(fd);
    if (!written || ::rename(tmp.c_str(), path.c_str()) != 0)
      return make_error(errc::invalid_argument, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  log::warn("no token key given: using a generated one (quick-start mode)", {{"path", path.string()}});
  return secret;
}

} // namespace

int run_node(const node_options& opt) {
  auto secret = auth_secret(opt);
  if (!secret) {
    log::error("cannot start", {{"error", describe(secret.error())}});
    return 2;
  }
  if (opt.allow_anonymous)
    log::warn("anonymous sessions are allowed (--allow-anonymous): anyone who can reach this port may edit "
              "documents that have no owner");
  if (!opt.redis.empty() && opt.postgres.empty()) {
    log::error("cannot start", {{"error", "--redis needs --postgres: cluster nodes share one database"}});
    return 2;
  }
  if (!opt.redis.empty() && opt.cluster_secret.rfind("CHANGE-ME", 0) == 0) {
    log::error("cannot start", {{"error", "the cluster key is the template's placeholder; generate one"}});
    return 2;
  }
  if (!opt.redis.empty() && opt.cluster_secret.size() < auth::bus_seal::k_min_key_bytes) {
    log::error("cannot start",
               {{"error", opt.cluster_secret.empty()
                            ? "--redis needs a cluster key: set --cluster-secret-file or STET_CLUSTER_SECRET "
                              "(the same on every node; at least 32 bytes)"
                            : "the cluster key must be at least 32 bytes"}});
    return 2;
  }
  trusted_proxies proxies;
  for (auto& cidr : opt.trusted_proxies)
    if (auto st = proxies.add(cidr); !st) {
      log::error("cannot start", {{"error", describe(st.error())}});
      return 2;
    }
  std::optional<redis_endpoint> redis_at;
  if (!opt.redis.empty()) {
    auto at = parse_redis_url(opt.redis);
    if (!at) {
      log::error("cannot start", {{"error", describe(at.error())}});
      return 2;
    }
    redis_at = *at;
  }
  auto stores = open_stores(opt);
  if (!stores) {
    log::error("cannot open storage", {{"error", describe(stores.error())}});
    return 1;
  }
  // Sessions this node left open when it last stopped are over.
  // Whether the database writes webhook events from now on (every node of
  // a cluster takes the same webhook flags).
  if (auto st = stores->front()->enable_webhooks(!opt.webhook_urls.empty()); !st) {
    log::error("cannot configure webhooks", {{"error", describe(st.error())}});
    return 1;
  }
  if (auto st = stores->front()->close_node_sessions(opt.node_id, now_ms()); !st)
    log::warn("cannot close stale sessions", {{"error", describe(st.error())}});

  caf::actor_system_config cfg;
  auto actor_threads = opt.actor_threads > 0 ? opt.actor_threads : usable_cpus();
  cfg.set("scheduler.max-threads", static_cast<size_t>(actor_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Idle workers sleep on their condition variable at once instead of
  // spinning and napping 50 us at a time first (CAF's default): measured,
  // that polling cost more CPU than any message at low and medium load and
  // did not lower latency.
  cfg.set("work-stealing.aggressive-poll-attempts", size_t{0});
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  // Before any actor runs: a refusal must end the process, and an actor
  // system with actors still running would wait for them forever.
  std::shared_ptr<auth::jwt_verifier> jwt;
  if (opt.jwt.enabled()) {
    auto opened = auth::jwt_verifier::open(opt.jwt);
    if (!opened) {
      log::error("cannot use the identity provider's keys", {{"error", opened.error().message}});
      return 2;
    }
    jwt = *opened;
  }
  // Before the actor system, so it outlives every actor whose sessions'
  // sinks post to it.
  net::io_context ioc{opt.io_threads};
  caf::actor_system system{cfg};
  auto health = std::make_shared<node_health>();
  std::vector<storage_actor_api> storage_actors;
  for (auto& s : *stores)
    storage_actors.push_back(
      system.spawn<caf::detached>(storage_actor, std::shared_ptr<storage::store>{std::move(s)}, health));
  // A replica that fails only sends its reads to the primary: its health
  // is not the node's.
  std::vector<storage_actor_api> replica_actors;
  if (!opt.postgres_read.empty()) {
    auto replica_health = std::make_shared<node_health>();
    for (int i = 0; i < opt.storage_connections; ++i)
      replica_actors.push_back(system.spawn<caf::detached>(
        storage_actor, std::shared_ptr<storage::store>{storage::pg_store::open_replica(opt.postgres_read)},
        replica_health));
    log::info("read replica", {{"connections", std::to_string(replica_actors.size())}});
  }
  auto registry_opts = opt.registry;
  registry_opts.replicas.assign(replica_actors.begin(), replica_actors.end());
  registry_opts.document.node_id = opt.node_id;
  auto creations = std::make_shared<auth::creation_quota>(opt.limits.documents_per_hour_per_user,
                                                          opt.limits.documents_per_hour_per_ip);
  registry_opts.creations = creations;
  auto epochs = std::make_shared<token_epochs>();
  registry_opts.on_token_epoch = [epochs](std::int64_t user, std::int64_t epoch, bool revoked) {
    epochs->learn(user, epoch, revoked);
  };
  registry_opts.session_users = [epochs] { return epochs->users(); };
  std::shared_ptr<redis_bridge> bridge;
  if (!opt.redis.empty()) {
    sentinel_config sentinel;
    if (!opt.redis_sentinel.empty()) {
      sentinel.sentinels = *parse_redis_hosts(opt.redis_sentinel); // checked with the flags
      sentinel.master = opt.redis_master;
    }
    std::vector<redis_endpoint> cluster_seeds;
    if (!opt.redis_cluster.empty())
      cluster_seeds = *parse_redis_hosts(opt.redis_cluster); // checked with the flags
    bridge = std::make_shared<redis_bridge>(opt.node_id, opt.redis, health, opt.cluster_secret, std::move(sentinel),
                                            std::move(cluster_seeds));
    registry_opts.bus = bridge;
    registry_opts.document.bus = bridge;
  }
  std::vector<storage_api> stores_api(storage_actors.begin(), storage_actors.end());
  auto registry = system.spawn(registry_actor, stores_api, registry_opts);
  for (auto& s : storage_actors) // told what the REST API stored
    caf::anon_send(s, route_atom::value, registry_api{registry});
  cluster_router_api router;
  if (bridge) {
    // Every payload of another node reaches the registry through the
    // router, which parses it once.
    registry_api routes_to = registry;
    cluster_router_config rc{bridge, [epochs](std::int64_t user, std::int64_t epoch) {
                               epochs->learn(user, epoch, true);
                             }};
    router = system.spawn(cluster_router, routes_to, rc);
    caf::anon_send(registry, route_atom::value, router);
    bridge->start(router);
    // Host and port only: the URL may hold a password.
    auto redis_where = !opt.redis_cluster.empty()    ? "redis cluster via " + opt.redis_cluster
                       : !opt.redis_sentinel.empty() ? "master " + opt.redis_master + " via sentinels " + opt.redis_sentinel
                                                     : redis_at->host + ":" + std::to_string(redis_at->port);
    log::info("cluster member", {{"redis", redis_where},
                                 {"node", opt.node_id},
                                 {"redis_auth", redis_at->password.empty() ? "none" : "password"}});
  }

  auth_settings auth{std::make_shared<auth::token_signer>(*secret), jwt, opt.allow_anonymous, opt.token_ttl_seconds,
                     opt.allowed_origins};
  gateway_context ctx{system, registry, stores_api, opt.limits, std::move(auth), opt.node_id, health,
                      opt.web_root};
  ctx.replicas = registry_opts.replicas;
  if (!opt.otlp_endpoint.empty())
    start_trace_exporter(ioc, std::make_shared<webhook_client>(ioc), opt.otlp_endpoint, opt.node_id);
  webhook_sender_api webhooks;
  if (!opt.webhook_urls.empty()) {
    webhook_config wc{opt.webhook_urls, opt.webhook_secret, opt.webhook_debounce, opt.webhook_max_wait};
    wc.transport = std::make_shared<webhook_client>(ioc);
    webhooks = spawn_webhook_sender(system, stores_api.front(), registry, std::move(wc));
    log::info("webhooks", {{"receivers", std::to_string(opt.webhook_urls.size())}});
  }
  ctx.creations = creations;
  ctx.epochs = epochs;
  ctx.proxies = proxies;
  ctx.operations_port = !opt.metrics_listen.host.empty();
  if (!opt.web_root.empty() && ctx.site.empty())
    log::warn("no web client to serve: the web root is missing or empty (scripts/build-web.sh builds it)",
              {{"web_root", opt.web_root}});
  std::shared_ptr<listener> l, ops;
  auto bind = [&](const endpoint_option& at, listener::role role) {
    auto l = std::make_shared<listener>(ioc, net::ip::tcp::endpoint{net::ip::make_address(at.host), at.port}, ctx,
                                        role);
    l->run();
    return l;
  };
  try {
    l = bind(opt.listen, listener::role::everything);
    if (!opt.metrics_listen.host.empty())
      ops = bind(opt.metrics_listen, listener::role::operations);
  } catch (const std::exception& e) {
    log::error("cannot listen", {{"address", opt.listen.host + ":" + std::to_string(opt.listen.port)},
                                 {"metrics_address", opt.metrics_listen.host + ":"
                                                       + std::to_string(opt.metrics_listen.port)},
                                 {"error", e.what()}});
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    if (router)
      caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
    for (auto* actors : {&storage_actors, &replica_actors})
      for (auto& s : *actors)
        caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
    system.await_actors_before_shutdown(false);
    return 1;
  }
  log::info("listening", {{"url", "http://" + opt.listen.host + ":" + std::to_string(l->port())},
                          {"port", std::to_string(l->port())},
                          {"metrics_port", ops ? std::to_string(ops->port()) : ""},
                          {"node", opt.node_id}});

  // Stopping: the others take this node's documents over at once (the
  // leaving notice), its clients are told "going away" and reconnect to
  // another node, and the I/O stops once their closes went out.
  net::signal_set signals{ioc, SIGINT, SIGTERM};
  net::steady_timer stopping{ioc};
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log::info("shutting down", {{"signal", std::to_string(sig)}});
    if (bridge)
      bridge->leave();
    ctx.sessions.close_all();
    stopping.expires_after(std::chrono::milliseconds(300));
    stopping.async_wait([&](const boost::system::error_code&) { ioc.stop(); });
  });
  // SIGHUP re-reads the identity provider's JWKS (key rotation); a file
  // that does not parse leaves the keys in use.
  net::signal_set hangups{ioc, SIGHUP};
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec)
        return;
      if (jwt) {
        auto st = jwt->reload();
        if (st)
          log::info("identity provider keys re-read", {{"jwks", opt.jwt.jwks_file}});
        else
          log::error("cannot re-read the identity provider's keys; the old ones stay",
                     {{"error", st.error().message}});
      }
      await_hangup();
    });
  };
  await_hangup();
  std::vector<std::thread> threads;
  for (int i = 1; i < opt.io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  // Leave the membership first, so the others take over at once, and let
  // this node's documents finish their commits and hand over (bounded).
  ctx.sessions.close_all(); // any that came meanwhile: their actors stop
  if (bridge) {
    bridge->leave();
    hand_over(system, registry, std::chrono::seconds(3));
    bridge->stop();
  }
  // Acked edits are already durable; unacked ones are resent by clients.
  if (webhooks)
    caf::anon_send_exit(webhooks, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  if (router)
    caf::anon_send_exit(router, caf::exit_reason::user_shutdown);
  for (auto* actors : {&storage_actors, &replica_actors})
    for (auto& s : *actors)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  system.await_actors_before_shutdown(false);
  return 0;
}

} // namespace stet
