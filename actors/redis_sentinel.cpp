#include "actors/redis_sentinel.hpp"

#include "metrics/log.hpp"

#include <sstream>
#include <utility>

namespace stet {

redis_sentinel::redis_sentinel(boost::asio::io_context& io, sentinel_config config)
  : io_(io), config_(std::move(config)) {
}

void redis_sentinel::start() {
  for (auto& at : config_.sentinels) {
    auto asker = std::make_shared<redis_connection>(io_, at);
    asker->start();
    askers_.push_back(asker);
    auto watcher = std::make_shared<redis_connection>(io_, at);
    watcher->on_message([w = weak_from_this()](const std::string&, const std::string& payload) {
      if (auto self = w.lock())
        self->heard(payload);
    });
    watcher->start();
    watcher->subscribe("+switch-master");
    watchers_.push_back(watcher);
  }
}

void redis_sentinel::stop() {
  for (auto& c : askers_)
    c->stop();
  for (auto& c : watchers_)
    c->stop();
}

// "<master-name> <old-ip> <old-port> <new-ip> <new-port>"
void redis_sentinel::heard(const std::string& payload) {
  std::istringstream in{payload};
  std::string name, old_host, old_port, host;
  int port = 0;
  if (!(in >> name >> old_host >> old_port >> host >> port) || name != config_.master)
    return;
  redis_endpoint master;
  master.host = host;
  master.port = port;
  // Every sentinel announces it: act once per new master.
  if (last_switch_ && last_switch_->host == host && last_switch_->port == port)
    return;
  last_switch_ = master;
  log::info("redis master switched", {{"master", config_.master}, {"to", host + ":" + std::to_string(port)}});
  for (auto& h : on_switch_)
    h(master);
}

void redis_sentinel::resolve(std::function<void(std::optional<redis_endpoint>)> done) {
  ask(0, std::make_shared<std::function<void(std::optional<redis_endpoint>)>>(std::move(done)));
}

void redis_sentinel::ask(std::size_t i, std::shared_ptr<std::function<void(std::optional<redis_endpoint>)>> done) {
  if (i >= askers_.size())
    return (*done)(std::nullopt);
  if (!askers_[i]->up())
    return ask(i + 1, std::move(done));
  // A sentinel that does not answer within a second is skipped: one that
  // hangs must not hold every reconnect.
  auto answered = std::make_shared<bool>(false);
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::seconds(1));
  timer->async_wait([w = weak_from_this(), i, done, answered, timer](const boost::system::error_code& ec) {
    auto self = w.lock();
    if (!self || ec || std::exchange(*answered, true))
      return;
    self->ask(i + 1, done);
  });
  askers_[i]->command({"SENTINEL", "get-master-addr-by-name", config_.master},
                      [w = weak_from_this(), i, done, answered, timer](const redis_reply& r) {
                        auto self = w.lock();
                        if (!self || std::exchange(*answered, true))
                          return;
                        timer->cancel();
                        if (!r.ok || r.elements.size() != 2)
                          return self->ask(i + 1, done);
                        redis_endpoint master;
                        master.host = r.elements[0];
                        master.port = std::atoi(r.elements[1].c_str());
                        if (master.port <= 0)
                          return self->ask(i + 1, done);
                        (*done)(master);
                      });
}

} // namespace stet
