#include "metrics/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace stet::log {

namespace {
std::atomic<level> min_level{level::info};
std::string node; // set once before any thread logs

const char* name_of(level l) {
  switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
  }
  return "info";
}
} // namespace

void set_node(std::string node_id) {
  node = std::move(node_id);
}

void set_level(level min) noexcept {
  min_level = min;
}

bool enabled(level lvl) noexcept {
  return lvl >= min_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view name, level& out) noexcept {
  for (auto l : {level::debug, level::info, level::warn, level::error})
    if (name == name_of(l)) {
      out = l;
      return true;
    }
  return false;
}

void write(level lvl, std::string_view msg, std::initializer_list<field> fields) {
  if (!enabled(lvl))
    return;
  using namespace std::chrono;
  nlohmann::json j;
  j["ts"] = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  j["level"] = name_of(lvl);
  j["msg"] = msg;
  if (!node.empty())
    j["node"] = node;
  for (auto& [k, v] : fields)
    j[std::string{k}] = v;
  auto line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr); // one write per line: lines never interleave
}

} // namespace stet::log
