#include "storage/migrations.hpp"
#include "storage/sqlite_store.hpp"

#include "tests/storage/store_conformance.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

using namespace stet;

TEST_CASE("sqlite_store passes the storage conformance suite") {
  auto dir = std::filesystem::temp_directory_path() / ("stet-sqlite-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "stet.db").string();
  test::run_store_conformance([&](bool) {
    auto s = storage::sqlite_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  });
  // Migrations are idempotent: opening twice keeps version and data.
  auto s = storage::sqlite_store::open(path);
  REQUIRE(s);
  CHECK((*s)->schema_version() == static_cast<int>(storage::migrations().size()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("sqlite_store reports an unusable path as storage_unavailable") {
  auto s = storage::sqlite_store::open("/nonexistent-dir/x/stet.db");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == errc::storage_unavailable);
}
