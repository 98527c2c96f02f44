// One libpq connection, as pg_store uses it: reconnects when it broke,
// prepares the statement catalogue on every new connection, runs a prepared
// statement with its parameters out of band, hands back the rows, and turns
// every failure into storage_unavailable naming the step (the server's own
// text, which can name hosts and roles, only in the error's detail).
// One thread at a time, like the store that owns it.
#pragma once

#include "core/error.hpp"
#include "storage/statements.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_result;

namespace stet::storage {

/// Parameters of one statement, all in text format (bytea goes inside
/// array literals, hex-encoded); empty optional values as NULL. libpq
/// reads text parameters as C strings: callers refuse U+0000 first (see
/// text_rules.hpp).
class pg_params {
public:
  pg_params& text(std::string_view v) {
    return add(std::string{v}, false);
  }
  pg_params& number(std::uint64_t v) {
    return add(std::to_string(v), false);
  }
  pg_params& number(std::int64_t v) {
    return add(std::to_string(v), false);
  }
  pg_params& null_if_empty(std::string_view v) {
    return add(std::string{v}, v.empty());
  }
  pg_params& null_if_zero(std::int64_t v) {
    return add(std::to_string(v), v == 0);
  }
  pg_params& boolean(bool v) {
    return add(v ? "true" : "false", false);
  }
  /// For PQexecPrepared and friends: one pointer per parameter, nullptr for NULL.
  std::vector<const char*> pointers() const;
  int size() const noexcept {
    return static_cast<int>(values_.size());
  }

private:
  pg_params& add(std::string v, bool null) {
    values_.push_back(std::move(v));
    nulls_.push_back(null);
    return *this;
  }
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
};

/// A one-dimensional array literal in PostgreSQL's text format, for
/// unnest($n::type[]) parameters.
class pg_array {
public:
  void text(std::string_view v);
  /// bytea in hex form; the backslash is escaped for the array parser.
  void bytes(std::string_view v);
  void number(std::uint64_t v);
  void number(std::int64_t v);
  void null();
  std::string str() const {
    return "{" + out_ + "}";
  }

private:
  void separate() {
    if (!out_.empty())
      out_ += ',';
  }
  std::string out_;
};

/// The rows of one result.
class pg_rows {
public:
  explicit pg_rows(pg_result* r);
  int size() const noexcept;
  std::string text(int row, int col) const;
  std::uint64_t u64(int row, int col) const;
  std::int64_t i64(int row, int col) const;
  bool boolean(int row, int col) const;
  /// A bytea column, unescaped.
  std::string bytes(int row, int col) const;
  /// Rows a command changed (UPDATE, DELETE without RETURNING).
  std::int64_t changed() const;
  pg_result* raw() const noexcept {
    return result_.get();
  }

private:
  std::shared_ptr<pg_result> result_;
};

class pg_connection {
public:
  explicit pg_connection(std::string conninfo) : conninfo_(std::move(conninfo)) {
  }
  ~pg_connection();
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;

  /// Connects (again) when there is no healthy connection; prepares the
  /// statements that the schema allows (all of them, once migrated).
  status ensure();
  /// Runs the prepared `s`. Errors: storage_unavailable naming `what`.
  result<pg_rows> run(const sql::statement& s, const pg_params& p, std::string_view what);
  /// Each row of `s`'s answer read by `read`.
  template <class Row, class Read>
  result<std::vector<Row>> collect(const sql::statement& s, const pg_params& p, std::string_view what, Read read) {
    auto r = run(s, p, what);
    if (!r)
      return r.error();
    std::vector<Row> out;
    out.reserve(static_cast<std::size_t>(r->size()));
    for (int i = 0; i < r->size(); ++i)
      out.push_back(read(*r, i));
    return out;
  }
  /// Runs SQL text (transaction control, migrations), with parameters.
  result<pg_rows> exec(const std::string& sql, std::string_view what, const pg_params& p = {});
  /// Rolls back what is open, if the connection is still there.
  void rollback();
  /// storage_unavailable naming `what`, with the server's text; drops a
  /// broken connection so the next call reconnects.
  error lost(std::string_view what);
  /// Why the statement behind `failed` failed: internal when the server
  /// refused its values or its SQL (SQLSTATE classes 22, 23, 42: retrying
  /// cannot help), else as lost().
  error refused(const pg_rows& failed, std::string_view what);
  /// Drops the connection (the next call reconnects and prepares again).
  void reset();
  pg_conn* raw() noexcept {
    return conn_;
  }

private:
  std::string conninfo_;
  pg_conn* conn_ = nullptr;
};

} // namespace stet::storage
