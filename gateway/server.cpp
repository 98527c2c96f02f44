#include "gateway/server.hpp"

#include "actors/storage_actor.hpp"
#include "gateway/listener.hpp"
#include "metrics/log.hpp"
#include "storage/sqlite_store.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <filesystem>
#include <thread>
#include <vector>

namespace stet {

namespace net = boost::asio;

int run_server(const server_options& opt) {
  std::error_code fs_ec;
  std::filesystem::create_directories(opt.data_dir, fs_ec);
  auto db_path = (std::filesystem::path(opt.data_dir) / "stet.db").string();
  auto store = storage::sqlite_store::open(db_path);
  if (!store) {
    log::error("cannot open storage", {{"path", db_path}, {"error", store.error().message}});
    return 1;
  }
  log::info("storage ready", {{"backend", "sqlite"}, {"path", db_path}});

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", static_cast<size_t>(opt.actor_threads));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system{cfg};
  auto storage = system.spawn<caf::detached>(storage_actor, std::shared_ptr<storage::store>{std::move(*store)});
  auto registry = system.spawn(registry_actor, storage, opt.registry);

  gateway_context ctx{system, registry, opt.limits, opt.node_id};
  net::io_context ioc{opt.io_threads};
  std::shared_ptr<listener> l;
  try {
    l = std::make_shared<listener>(ioc, net::ip::tcp::endpoint{net::ip::make_address(opt.host), opt.port}, ctx);
  } catch (const std::exception& e) {
    log::error("cannot listen", {{"address", opt.host + ":" + std::to_string(opt.port)}, {"error", e.what()}});
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
    return 1;
  }
  l->run();
  log::info("listening", {{"url", "http://" + opt.host + ":" + std::to_string(l->port())},
                          {"port", std::to_string(l->port())}, {"node", opt.node_id}});

  net::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    log::info("shutting down", {{"signal", std::to_string(sig)}});
    ioc.stop();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < opt.io_threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  // Acked edits are already durable; unacked ones are resent by clients.
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  system.await_actors_before_shutdown(false);
  return 0;
}

} // namespace stet
