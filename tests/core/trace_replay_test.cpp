#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "tests/test_support.hpp"

#include <doctest/doctest.h>

using namespace stet;

TEST_CASE("every sequential editing trace replays to its endContent") {
  auto files = test::sequential_trace_files();
  REQUIRE_FALSE(files.empty());
  for (auto& file : files) {
    auto trace = test::load_sequential_trace(file);
    INFO("trace ", trace.name);
    text_buffer doc{trace.start_content};
    for (auto& patch : trace.patches) {
      auto op = test::patch_operation(patch);
      REQUIRE(apply(doc, op));
    }
    CHECK(doc.str() == trace.end_content);
  }
}
