#include "storage/migrations.hpp"
#include "storage/sqlite_store.hpp"

#include "tests/storage/store_conformance.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

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
  test::run_account_conformance([&](bool) {
    auto s = storage::sqlite_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  });
  test::run_text_conformance([&](bool) {
    auto s = storage::sqlite_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  });
  test::run_webhook_conformance([&](bool) {
    auto s = storage::sqlite_store::open(path);
    REQUIRE(s);
    return std::move(*s);
  });
  test::run_version_conformance([&](bool) {
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

TEST_CASE("sqlite_store upgrades an older database without losing its op log") {
  auto dir = std::filesystem::temp_directory_path() / ("stet-sqlite-upgrade-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto path = (dir / "stet.db").string();
  {
    // A database as schema version 4 left it (op log in a rowid table).
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    std::string sql = "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                      "applied_at INTEGER NOT NULL);";
    for (auto& m : storage::migrations())
      if (m.version <= 4)
        sql += std::string{m.sqlite} + "INSERT INTO schema_migrations VALUES(" + std::to_string(m.version)
               + ", 'old', 0);";
    sql += "INSERT INTO documents(id, content, snapshot_rev, rev, created_at, updated_at) VALUES('d', 'ab', 1, 3, 0, 0);"
           "INSERT INTO document_ops(doc_id, rev, ops, ts, client_id, client_seq, epoch) VALUES"
           "('d', 2, x'01', 10, 'c', 5, 0), ('d', 3, x'02', 11, 'c', 6, 0);"
           "INSERT INTO document_clients VALUES('d', 'c', 6, 3);"
           // Old ids that collide once keyed by user ("x" becomes "0:x").
           "INSERT INTO document_clients VALUES('d', 'x', 2, 1), ('d', '0:x', 1, 1);";
    char* err = nullptr;
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK);
    if (err) {
      MESSAGE(err);
      sqlite3_free(err);
    }
    sqlite3_close(db);
  }
  auto s = storage::sqlite_store::open(path);
  REQUIRE(s);
  CHECK((*s)->schema_version() == static_cast<int>(storage::migrations().size()));
  auto ops = (*s)->ops_since("d", 0);
  REQUIRE(ops);
  REQUIRE(ops->size() == 2);
  CHECK((*ops)[0].rev == 2);
  CHECK((*ops)[1].ops == "\x02");
  CHECK((*ops)[1].client_seq == 6);
  auto doc = (*s)->find_document("d");
  REQUIRE(doc);
  REQUIRE(doc->has_value());
  CHECK((*doc)->content == "ab"); // moved to its own table by migration 6
  CHECK((*doc)->snapshot_rev == 1);
  CHECK((*doc)->rev == 3);
  auto seqs = (*s)->client_seqs("d");
  REQUIRE(seqs);
  REQUIRE(seqs->size() == 3); // "0:c", "0:x" (was "x") and "0:0:x" (was "0:x")
  for (auto& c : *seqs)
    if (c.client_id == "0:c")
      CHECK(c.client_seq == 6);
    else if (c.client_id == "0:x")
      CHECK(c.client_seq == 2);
  storage::op_row next{"d", 4, "\x03", "c", 7, 12, 0, 0};
  CHECK((*s)->commit({.ops = {next}}));
  ops = (*s)->ops_since("d", 3);
  REQUIRE(ops);
  CHECK(ops->size() == 1);
  s->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("sqlite_store reports an unusable path as storage_unavailable") {
  auto s = storage::sqlite_store::open("/nonexistent-dir/x/stet.db");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == errc::storage_unavailable);
  CHECK(s.error().message.find("nonexistent-dir") == std::string::npos);
  CHECK(s.error().detail.find("nonexistent-dir") != std::string::npos);
}

TEST_CASE("named versions are bounded in number and in bytes per document") {
  storage::version_row v{0, "d", "n", 1, 0, "", 1, std::string(1000, 'x')};
  CHECK_FALSE(storage::version_limit(v, 0, 0));
  CHECK_FALSE(storage::version_limit(v, storage::k_max_versions_per_document - 1, 0));
  auto many = storage::version_limit(v, storage::k_max_versions_per_document, 0);
  REQUIRE(many);
  CHECK(many->code == errc::invalid_argument);
  CHECK(many->message.find("delete some") != std::string::npos);
  CHECK_FALSE(storage::version_limit(v, 1, storage::k_max_version_bytes_per_document - 1000));
  auto big = storage::version_limit(v, 1, storage::k_max_version_bytes_per_document - 999);
  REQUIRE(big);
  CHECK(big->message.find("MiB") != std::string::npos);
}
