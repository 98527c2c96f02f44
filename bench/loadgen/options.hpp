// The load generator's flags (stet_loadgen --help lists them).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace stet::loadgen {

struct options {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  /// Local addresses connections are spread over (127.0.0.1 .. 127.0.0.N).
  std::vector<std::string> sources{"127.0.0.1"};
  int threads = 1;
  int docs = 1;
  int conns_per_doc = 10;
  int writers_per_doc = 1;
  double rate = 10;     // edits per second per writer
  int edit_bytes = 200;
  double duration = 10; // seconds measured
  double warmup = 2;    // seconds before measuring
  std::string doc_prefix = "bench";
  std::string policy = "merge";
  std::string trace;
  int window = 1000;
  std::size_t join_bytes = 0;
  int stampede = 100;
  bool storm = false;
  double hold = 0; // seconds to keep idle connections open
  /// Offer permessage-deflate (window bits 9-15; 0: do not).
  int compress = 0;
  /// What edits insert: "letters" (one letter repeated) or "prose".
  std::string text = "letters";
};

/// The options on the command line, or nullopt after printing help or what
/// was wrong with them (`exit_code` says which).
std::optional<options> parse(int argc, char** argv, int& exit_code);

} // namespace stet::loadgen
