#include "bench/loadgen/options.hpp"

#include <CLI/CLI.hpp>

namespace stet::loadgen {

namespace {

void declare(CLI::App& app, options& o, int& sources) {
  app.add_option("--host", o.host, "server address")->capture_default_str();
  app.add_option("--port", o.port, "server port")->capture_default_str();
  app.add_option("--sources", sources, "spread connections over 127.0.0.1 .. 127.0.0.N")->check(CLI::Range(1, 250));
  app.add_option("--threads", o.threads, "client threads")->capture_default_str();
  app.add_option("--docs", o.docs, "documents")->capture_default_str();
  app.add_option("--conns-per-doc", o.conns_per_doc, "connections joined to each document")->capture_default_str();
  app.add_option("--writers-per-doc", o.writers_per_doc, "of them writing")->capture_default_str();
  app.add_option("--rate", o.rate, "edits per second per writer (open loop)")->capture_default_str();
  app.add_option("--edit-bytes", o.edit_bytes, "bytes each edit inserts (and deletes)")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds measured")->capture_default_str();
  app.add_option("--warmup", o.warmup, "seconds before measuring")->capture_default_str();
  app.add_option("--doc-prefix", o.doc_prefix, "document ids are PREFIX-N")->capture_default_str();
  app.add_option("--policy", o.policy, "conflict policy of new documents")->capture_default_str();
  app.add_option("--trace", o.trace, "replay this sequential editing trace over one connection");
  app.add_option("--window", o.window, "trace edits in flight at most")->capture_default_str();
  app.add_option("--join-bytes", o.join_bytes, "join latency of documents this large (bytes)");
  app.add_option("--stampede", o.stampede, "connections joining one cold document at once")->capture_default_str();
  app.add_flag("--storm", o.storm, "every connection writes, reconnects, resumes and resends");
  app.add_option("--hold", o.hold, "seconds to hold idle connections (memory per connection)");
  app.add_option("--compress", o.compress, "offer permessage-deflate with this window (bits; 0: no)")
    ->check(CLI::IsMember({0, 9, 10, 11, 12, 13, 14, 15}))
    ->capture_default_str();
  app.add_option("--text", o.text, "what edits insert: letters (one letter repeated) or prose (words)")
    ->check(CLI::IsMember({"letters", "prose"}))
    ->capture_default_str();
}

} // namespace

std::optional<options> parse(int argc, char** argv, int& exit_code) {
  CLI::App app{"stet_loadgen: an open-loop WebSocket load generator for stet"};
  options o;
  int sources = 1;
  declare(app, o, sources);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    exit_code = app.exit(e);
    return std::nullopt;
  }
  o.sources.clear();
  for (int k = 1; k <= sources; ++k)
    o.sources.push_back("127.0.0." + std::to_string(k));
  return o;
}

} // namespace stet::loadgen
