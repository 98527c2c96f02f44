// The command line and environment of `stet serve`, declared once (CLI11):
// each flag with its default, its environment variable where it has one,
// and its help, so `--help`, the defaults and the variables cannot drift.
#pragma once

#include "node/node.hpp"

#include <optional>
#include <string>

namespace stet {

struct parsed_flags {
  /// What to run with; empty when the process should exit with `exit_code`
  /// (help was asked for and printed, or a usage error was explained on
  /// stderr).
  std::optional<node_options> options;
  int exit_code = 0;
  std::string log_level = "info";
};

/// Reads `stet serve [flags]` over `defaults`; flags win over environment
/// variables, which win over the defaults. Usage errors exit with 2.
parsed_flags parse_flags(int argc, const char* const* argv, node_options defaults);

} // namespace stet
