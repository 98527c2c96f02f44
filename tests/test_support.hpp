// Helpers shared by the doctest suite: editing traces and random operations.
#pragma once

#include "core/operation.hpp"

#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace stet::test {

struct trace_patch {
  std::size_t position; // code points
  std::size_t erase;    // code points
  std::string insert;   // UTF-8
};

struct sequential_trace {
  std::string name;
  std::string start_content;
  std::string end_content;
  std::vector<trace_patch> patches; // every patch of every txn, in order
};

/// The traces folder: $STET_TRACES_DIR (the public editing traces, where a
/// run has them), else the histories the build generated (build/traces).
std::string traces_dir();

/// Reads a gzip'd editing trace (`sequential/NAME.json.gz`).
sequential_trace load_sequential_trace(const std::string& path);

/// Files in `traces_dir()/sequential`, sorted.
std::vector<std::string> sequential_trace_files();

/// Random valid UTF-8 text of `n` code points drawn from `alphabet` (each
/// element one code point).
std::string random_text(std::mt19937& rng, std::size_t n, const std::vector<std::string>& alphabet);

/// A random operation over a document of `doc_length` code points.
operation random_operation(std::mt19937& rng, std::size_t doc_length,
                           const std::vector<std::string>& alphabet);

/// An operation built from one trace patch.
operation patch_operation(const trace_patch& p);

} // namespace stet::test
