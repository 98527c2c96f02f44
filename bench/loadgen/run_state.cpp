#include "bench/loadgen/run_state.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace stet::loadgen {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

void samples::add(std::int64_t ns) {
  us.push_back(static_cast<std::uint32_t>(
    std::min<std::int64_t>(ns / 1000, std::numeric_limits<std::uint32_t>::max())));
}

void samples::merge(const samples& o) {
  us.insert(us.end(), o.us.begin(), o.us.end());
}

json samples::summary() {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) -> double {
    if (us.empty())
      return 0;
    return us[std::min(us.size() - 1, static_cast<std::size_t>(q * static_cast<double>(us.size())))] / 1000.0;
  };
  return {{"count", us.size()}, {"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"p999_ms", at(0.999)},
          {"max_ms", us.empty() ? 0.0 : us.back() / 1000.0}};
}

void schedule::resize(std::size_t writers, std::size_t edits) {
  per_writer = edits + 2;
  for (std::size_t i = 0; i < writers; ++i)
    due.emplace_back(new std::atomic<std::int64_t>[per_writer]());
}

void wait_until(const std::function<bool()>& done, double seconds, const char* what) {
  auto deadline = clock_type::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (clock_type::now() > deadline)
      throw std::runtime_error(std::string{"timed out waiting for "} + what);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void mark(const char* what) {
  std::fprintf(stderr, "%s %lld\n", what, static_cast<long long>(now_ns()));
  std::fflush(stderr);
}

pool::pool(int n) {
  for (int i = 0; i < n; ++i) {
    ios.push_back(std::make_unique<boost::asio::io_context>(1));
    guards.push_back(boost::asio::make_work_guard(*ios.back()));
  }
  for (auto& io : ios)
    threads.emplace_back([&io = *io] { io.run(); });
}

void pool::finish() {
  for (auto& g : guards)
    g.reset();
  for (auto& io : ios)
    io->stop();
  for (auto& t : threads)
    if (t.joinable())
      t.join();
}

} // namespace stet::loadgen
