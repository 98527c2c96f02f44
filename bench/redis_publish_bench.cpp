// How many Redis publishes a node's bridge sustains: stet's own
// redis_bridge publishing to a real redis-server, a second bridge
// subscribed to the channel as the other node would be.
//
//   stet_redis_publish_bench --port 6379 --rate 150000 --seconds 3 --bytes 200
//
// Open loop: the main thread calls publish() at --rate (in 1 ms ticks) for
// --seconds, on --publisher-core with the publishing bridge's thread; the
// subscribing bridge and the actor counting what it receives run on
// --subscriber-core. Prints JSON: offered and delivered publishes per
// second, publish-to-delivery latency percentiles, and the publishing
// side's CPU-seconds per million publishes (its threads only).
#include "actors/messages.hpp"
#include "actors/node_health.hpp"
#include "actors/redis_bridge.hpp"
#include "proto/stet.pb.h"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int port = 6379;
  double rate = 150000;
  double seconds = 3;
  std::size_t bytes = 200;
  int publisher_core = 0;
  int subscriber_core = 1;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--port")
      o.port = std::stoi(v);
    else if (f == "--rate")
      o.rate = std::stod(v);
    else if (f == "--seconds")
      o.seconds = std::stod(v);
    else if (f == "--bytes")
      o.bytes = std::stoul(v);
    else if (f == "--publisher-core")
      o.publisher_core = std::stoi(v);
    else if (f == "--subscriber-core")
      o.subscriber_core = std::stoi(v);
    else
      throw std::invalid_argument("unknown flag " + f);
  }
  return o;
}

// Threads inherit their creator's CPU mask: pin the caller, then start what
// should run there.
void pin_calling_thread(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
    throw std::runtime_error("cannot pin to core " + std::to_string(core));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

double thread_cpu_seconds(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  FILE* f = std::fopen(path, "r");
  if (!f)
    return 0;
  char buf[1024];
  auto n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command (which may hold spaces) start at the last ')'.
  const char* p = std::strrchr(buf, ')');
  unsigned long utime = 0, stime = 0;
  if (p)
    std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::vector<pid_t> threads_now() {
  std::vector<pid_t> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    closedir(d);
  }
  return out;
}

struct received {
  std::mutex mutex;
  std::vector<std::int64_t> latencies_ns;
  std::atomic<std::size_t> count{0};
  std::int64_t last_ns = 0;
};

} // namespace

int main(int argc, char** argv) try {
  auto opt = parse(argc, argv);
  auto url = "127.0.0.1:" + std::to_string(opt.port);
  auto got = std::make_shared<received>();

  pin_calling_thread(opt.subscriber_core);
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("scheduler.max-threads", std::size_t{1});
  caf::actor_system sys{cfg};
  auto counter = sys.spawn([got]() -> stet::bus_listener_api::behavior_type {
    return {
      [got](stet::bus_atom, const std::string& payload) {
        // As the registry does: a batch carries envelopes published back to back.
        stet::wire::BusEnvelope env;
        if (!env.ParseFromString(payload))
          return;
        std::vector<stet::wire::BusEnvelope> envelopes;
        if (env.has_batch()) {
          for (auto& inner : env.batch().envelopes())
            if (!envelopes.emplace_back().ParseFromString(inner))
              envelopes.pop_back();
        } else {
          envelopes.push_back(std::move(env));
        }
        auto now = now_ns();
        std::lock_guard<std::mutex> guard{got->mutex};
        for (auto& e : envelopes) {
          std::int64_t sent = 0;
          std::memcpy(&sent, e.frame().message().data(), std::min(sizeof sent, e.frame().message().size()));
          got->latencies_ns.push_back(now - sent);
        }
        got->last_ns = now;
        got->count.fetch_add(envelopes.size(), std::memory_order_relaxed);
      },
      [](stet::lost_atom, const std::string&, const std::string&, bool, std::int64_t) {},
      [](stet::ring_atom, const std::vector<std::string>&) {},
      [](stet::redis_atom, bool) {},
    };
  });
  // Sealed as in production, so the figure includes the HMAC on both ends.
  const std::string cluster_key = "bench-cluster-key-of-at-least-32-bytes";
  stet::redis_bridge subscriber{"bench-sub", url, std::make_shared<stet::node_health>(), cluster_key};
  subscriber.start(counter);
  auto subscriber_side = threads_now();
  std::atomic<bool> subscribed{false};
  const std::string channel = stet::redis_bridge::doc_channel("bench");
  subscriber.subscribe(channel, [&] { subscribed = true; });

  pin_calling_thread(opt.publisher_core);
  stet::redis_bridge publisher{"bench-pub", url, std::make_shared<stet::node_health>(), cluster_key};
  publisher.start(counter);
  for (int i = 0; i < 500 && !subscribed; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!subscribed)
    throw std::runtime_error("no subscription confirmed by redis at " + url);
  std::this_thread::sleep_for(std::chrono::milliseconds(200)); // the publisher's connection comes up
  // The publishing side's CPU: this thread and the publishing bridge's.
  std::vector<pid_t> publisher_side;
  for (auto t : threads_now())
    if (std::find(subscriber_side.begin(), subscriber_side.end(), t) == subscriber_side.end())
      publisher_side.push_back(t);
  auto publisher_cpu = [&] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); // the calling (publishing) thread
    double s = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    for (auto t : publisher_side)
      s += thread_cpu_seconds(t);
    return s;
  };

  // What a node publishes: an envelope carrying one session's message.
  stet::wire::BusEnvelope env;
  env.set_from_node("bench-pub");
  env.set_doc_id("bench");
  env.mutable_frame()->set_session_id("bench-pub-1");
  auto* message = env.mutable_frame()->mutable_message();
  message->assign(std::max<std::size_t>(opt.bytes, 64) - 40, 'x');
  auto total = static_cast<std::size_t>(opt.rate * opt.seconds);
  auto cpu0 = publisher_cpu();
  auto start = clock_type::now();
  std::size_t sent = 0;
  for (int tick = 1; sent < total; ++tick) {
    auto due = std::min(total, static_cast<std::size_t>(opt.rate * tick / 1000.0));
    for (; sent < due; ++sent) {
      auto t = now_ns();
      std::memcpy(message->data(), &t, sizeof t);
      publisher.publish(channel, env.SerializeAsString());
    }
    std::this_thread::sleep_until(start + std::chrono::milliseconds(tick));
  }
  double offered_s = std::chrono::duration<double>(clock_type::now() - start).count();
  for (int i = 0; i < 1000 && got->count < total; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double cpu = publisher_cpu() - cpu0;

  std::vector<std::int64_t> lat;
  double all_s = 0;
  {
    std::lock_guard<std::mutex> guard{got->mutex};
    lat = got->latencies_ns;
    all_s = static_cast<double>(got->last_ns - start.time_since_epoch().count()) / 1e9;
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return lat.empty() ? 0.0 : static_cast<double>(lat[static_cast<std::size_t>(q * (lat.size() - 1))]) / 1e6;
  };
  std::printf("{\"offered_per_second\": %.0f, \"published\": %zu, \"delivered\": %zu, "
              "\"delivered_per_second\": %.0f, \"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}, "
              "\"publisher_cpu_s_per_million\": %.3f, \"bytes\": %zu}\n",
              static_cast<double>(sent) / offered_s, sent, lat.size(), static_cast<double>(lat.size()) / all_s,
              pct(0.5), pct(0.99), pct(1.0), cpu / static_cast<double>(std::max<std::size_t>(sent, 1)) * 1e6,
              env.ByteSizeLong());
  publisher.stop();
  subscriber.stop();
  caf::anon_send_exit(counter, caf::exit_reason::user_shutdown);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "stet_redis_publish_bench: %s\n", e.what());
  return 1;
}
