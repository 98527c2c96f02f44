// Structured logs: one JSON object per line on stderr, so one edit can be
// followed across components by its document and session ids.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace stet::log {

enum class level { debug, info, warn, error };

/// Every line names this node (call once at start-up, before logging).
void set_node(std::string node_id);

/// Lines below `min` are dropped. Default: info.
void set_level(level min) noexcept;
/// Parses "debug" | "info" | "warn" | "error"; false on anything else.
bool parse_level(std::string_view name, level& out) noexcept;

/// True when lines at `lvl` are written: guard hot-path debug lines with it,
/// so their fields are not even built when they would be dropped.
bool enabled(level lvl) noexcept;

using field = std::pair<std::string_view, std::string>;

/// Writes {"ts":..., "level":..., "msg":..., fields...}. Thread-safe.
void write(level lvl, std::string_view msg, std::initializer_list<field> fields = {});

inline void info(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::info, msg, fields);
}
inline void warn(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::warn, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::error, msg, fields);
}
inline void debug(std::string_view msg, std::initializer_list<field> fields = {}) {
  write(level::debug, msg, fields);
}

} // namespace stet::log
