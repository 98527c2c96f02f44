// Writes transform/compose test vectors computed by the C++ core, so the web
// client's JavaScript port is checked against exactly what the server does
// (and its comment anchors against move_thread: `anchor`, null for an empty doc).
// Usage: stet_ot_vectors OUT.json [count]
#include "core/comments.hpp"
#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "core/transform.hpp"
#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <random>

using namespace stet;

namespace {

nlohmann::json as_json(const operation& op) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& c : op.components()) {
    if (c.kind == component_kind::retain)
      out.push_back({{"retain", c.length}});
    else if (c.kind == component_kind::insert)
      out.push_back({{"insert", c.text}});
    else if (c.text.empty())
      out.push_back({{"delete", c.length}});
    else
      out.push_back({{"delete", c.length}, {"deleted", c.text}});
  }
  return out;
}

operation committed(const std::string& doc, operation op) {
  text_buffer buf{doc};
  (void) apply(buf, op);
  return op;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: stet_ot_vectors OUT.json [count]\n";
    return 2;
  }
  int count = argc > 2 ? std::atoi(argv[2]) : 3000;
  std::mt19937 rng(2024);
  const std::vector<std::string> base{"a", "b", "\xC3\xA9", "\xF0\x9F\x98\x80"};
  const std::vector<std::string> ea{"X", "Y", "\xF0\x9F\x8E\x89"};
  const std::vector<std::string> la{"\xCE\xB1", "Z", "\xF0\x9F\x90\xB1"};
  nlohmann::json vectors = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    auto doc = test::random_text(rng, rng() % 10, base);
    auto n = utf8::length(doc);
    auto a = committed(doc, test::random_operation(rng, n, ea));
    auto b = committed(doc, test::random_operation(rng, n, la));
    auto after_a = apply_to_string(doc, a);
    auto c = test::random_operation(rng, utf8::length(after_a), la);
    // A comment's range over `doc`, moved by `a` and then by `c` (see
    // move_thread): the client moves its threads' ranges the same way.
    nlohmann::json anchor;
    if (n > 0) {
      comment_thread t{1, rng() % n, 0};
      t.end = t.start + 1 + rng() % (n - t.start);
      anchor = {{"start", t.start}, {"end", t.end}};
      move_thread(t, a);
      anchor["afterA"] = {{"start", t.start}, {"end", t.end}, {"detached", t.detached}};
      move_thread(t, c);
      anchor["afterC"] = {{"start", t.start}, {"end", t.end}, {"detached", t.detached}};
    }
    for (auto policy : {conflict_policy::lww, conflict_policy::merge}) {
      auto t = transform(a, b, policy);
      nlohmann::json dropped = nlohmann::json::array();
      for (auto& d : t.dropped)
        dropped.push_back({{"position", d.position}, {"inserted", d.inserted}, {"erased", d.erased}});
      vectors.push_back({{"doc", doc},
                         {"policy", std::string{to_string(policy)}},
                         {"a", as_json(a)},
                         {"b", as_json(b)},
                         {"c", as_json(c)},
                         {"earlier", as_json(t.earlier)},
                         {"later", as_json(t.later)},
                         {"dropped", dropped},
                         {"composed", as_json(compose(a, c))},
                         {"result", apply_to_string(after_a, t.later)},
                         {"anchor", anchor}});
    }
  }
  std::ofstream out{argv[1]};
  out << vectors.dump();
  std::cout << "wrote " << vectors.size() << " vectors to " << argv[1] << "\n";
  return out ? 0 : 1;
}
