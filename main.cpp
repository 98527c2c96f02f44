// stet: real-time collaborative documents. `stet serve --help` lists the flags.
#include "metrics/log.hpp"
#include "node/flags.hpp"

int main(int argc, char** argv) {
  stet::node_options defaults;
  defaults.web_root = STET_DEFAULT_WEB_ROOT;
  auto parsed = stet::parse_flags(argc, argv, std::move(defaults));
  if (!parsed.options)
    return parsed.exit_code;
  stet::log::level level;
  stet::log::parse_level(parsed.log_level, level); // checked by parse_flags
  stet::log::set_level(level);
  stet::log::set_node(parsed.options->node_id);
  return stet::run_node(*parsed.options);
}
