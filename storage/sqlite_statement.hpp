// A prepared SQLite statement, kept for the store's lifetime and reset
// after every use, with the reads and writes the store needs: bind by
// position (text and blobs with their lengths, so every byte is stored),
// step, read columns.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace stet::storage {

class sqlite_statement {
public:
  sqlite_statement(sqlite3* db, const char* sql) {
    sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }
  ~sqlite_statement() {
    sqlite3_finalize(stmt_);
  }
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;

  sqlite_statement& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  sqlite_statement& bind_blob(int i, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  sqlite_statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  sqlite_statement& bind(int i, std::uint64_t v) {
    return bind(i, static_cast<std::int64_t>(v));
  }
  /// Binds `v` unless it is 0 (the column stays NULL).
  sqlite_statement& bind_unless_zero(int i, std::int64_t v) {
    return v == 0 ? *this : bind(i, v);
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() {
    return sqlite3_step(stmt_);
  }
  /// Steps to the end; SQLITE_DONE or an error code. Resets.
  int run() {
    int rc;
    while ((rc = step()) == SQLITE_ROW) {
    }
    reset();
    return rc;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) {
    auto p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string{};
  }
  std::int64_t int64(int col) {
    return sqlite3_column_int64(stmt_, col);
  }
  std::uint64_t u64(int col) {
    return static_cast<std::uint64_t>(int64(col));
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
};

} // namespace stet::storage
