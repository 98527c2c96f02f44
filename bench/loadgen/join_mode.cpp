// Join mode: join latency of documents of --join-bytes, cold (loaded from
// storage) and warm (open), then --stampede connections joining one cold
// document at once.
#include "bench/loadgen/connection.hpp"

#include <thread>

namespace stet::loadgen {

json join_mode(run_state& run) {
  auto& opt = run.opt;
  pool p{1};
  thread_stats stats;
  auto ctx_join = [&](const std::string& doc, bool keep) {
    // One connection joins `doc`; returns (it, microseconds to snapshot).
    auto c = std::make_shared<connection>(p.at(0), run, stats, 1000 + run.connected.load(), doc, -1);
    auto t = now_ns();
    int before = run.joined;
    net::post(p.at(0), [c] { c->start(); });
    wait_until([&] { return run.joined > before || run.failed > 0; }, 30, "a join");
    if (run.failed)
      throw std::runtime_error("join failed: " + stats.first_error);
    auto us = (c->first_snapshot_ns() - t) / 1000;
    if (!keep)
      c->close();
    return std::make_pair(c, us);
  };
  // Fill the documents: a writer inserts join_bytes in 256 KB edits.
  std::vector<std::string> docs;
  for (int d = 0; d < opt.docs; ++d) {
    docs.push_back(opt.doc_prefix + "-" + std::to_string(d));
    auto [c, _] = ctx_join(docs.back(), true);
    std::size_t chunk = 256 * 1024, seq = 0;
    for (std::size_t done = 0; done < opt.join_bytes; done += chunk) {
      std::string text(std::min(chunk, opt.join_bytes - done), 'a' + static_cast<char>(d % 26));
      ++seq;
      net::post(p.at(0), [c = c, seq, text] { c->send_edit(seq, 0, "[{\"insert\":\"" + text + "\"}]"); });
    }
    wait_until([&, c = c] { return c->acked() == seq; }, 60, "filling a document");
    c->close();
  }
  // Wait until the server has closed them (runner sets a short idle timeout).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  samples cold, warm;
  std::vector<std::shared_ptr<connection>> holders;
  for (auto& d : docs) {
    auto [c, us] = ctx_join(d, true); // cold: loads from storage
    cold.us.push_back(static_cast<std::uint32_t>(us));
    holders.push_back(c);
  }
  for (int round = 0; round < 5; ++round)
    for (auto& d : docs)
      warm.us.push_back(static_cast<std::uint32_t>(ctx_join(d, false).second));
  for (auto& h : holders)
    h->close();
  // Stampede: many connections join one cold document at once.
  std::string cold_doc = opt.doc_prefix + "-stampede";
  {
    auto [c, _] = ctx_join(cold_doc, true);
    net::post(p.at(0), [c = c] { c->send_edit(1, 0, "[{\"insert\":\"stampede\"}]"); });
    wait_until([c = c] { return c->acked() == 1; }, 30, "stampede doc");
    c->close();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  mark("stampede start");
  int before = run.joined;
  std::vector<std::shared_ptr<connection>> crowd;
  auto t = now_ns();
  for (int i = 0; i < opt.stampede; ++i) {
    crowd.push_back(std::make_shared<connection>(p.at(0), run, stats, 5000 + i, cold_doc, -1));
    net::post(p.at(0), [c = crowd.back()] { c->start(); });
  }
  wait_until([&] { return run.joined - before >= opt.stampede || run.failed > 0; }, 60, "the stampede");
  auto stampede_ms = static_cast<double>(now_ns() - t) / 1e6;
  mark("stampede end");
  for (auto& c : crowd)
    c->close();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  p.finish();
  return {{"doc_bytes", opt.join_bytes}, {"docs", opt.docs},
          {"cold", cold.summary()},      {"warm", warm.summary()},
          {"stampede_joiners", opt.stampede}, {"stampede_all_joined_ms", stampede_ms},
          {"errors", stats.errors},      {"first_error", stats.first_error}};
}


} // namespace stet::loadgen
