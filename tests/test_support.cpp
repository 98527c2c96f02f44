#include "tests/test_support.hpp"

#include "core/utf8.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace stet::test {

std::string traces_dir() {
  if (auto* env = std::getenv("STET_TRACES_DIR"); env && *env) // empty: unset
    return env;
  return STET_TRACES_DIR;
}

namespace {

std::string gunzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot open " + path);
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  return out;
}

} // namespace

sequential_trace load_sequential_trace(const std::string& path) {
  auto json = nlohmann::json::parse(gunzip_file(path));
  sequential_trace t;
  t.name = std::filesystem::path(path).stem().stem().string();
  t.start_content = json.value("startContent", "");
  t.end_content = json.at("endContent").get<std::string>();
  for (auto& txn : json.at("txns"))
    for (auto& p : txn.at("patches"))
      t.patches.push_back({p.at(0).get<std::size_t>(), p.at(1).get<std::size_t>(), p.at(2).get<std::string>()});
  return t;
}

std::vector<std::string> sequential_trace_files() {
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(traces_dir() + "/sequential"))
    if (e.path().string().ends_with(".json.gz"))
      files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

std::string random_text(std::mt19937& rng, std::size_t n, const std::vector<std::string>& alphabet) {
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < n; ++i)
    s += alphabet[pick(rng)];
  return s;
}

operation random_operation(std::mt19937& rng, std::size_t doc_length,
                           const std::vector<std::string>& alphabet) {
  operation op;
  std::size_t pos = 0;
  std::uniform_int_distribution<int> kind(0, 3);
  while (pos < doc_length) {
    auto left = doc_length - pos;
    std::uniform_int_distribution<std::size_t> len(1, std::min<std::size_t>(left, 4));
    switch (kind(rng)) {
      case 0:
      case 1: {
        auto n = len(rng);
        op.retain(n);
        pos += n;
        break;
      }
      case 2: op.insert(random_text(rng, len(rng), alphabet)); break;
      case 3: {
        auto n = len(rng);
        op.erase(n);
        pos += n;
        break;
      }
    }
  }
  if (std::uniform_int_distribution<int>(0, 2)(rng) == 0)
    op.insert(random_text(rng, 2, alphabet));
  return op;
}

operation patch_operation(const trace_patch& p) {
  operation op;
  op.retain(p.position);
  op.insert(p.insert);
  op.erase(p.erase);
  return op;
}

} // namespace stet::test
