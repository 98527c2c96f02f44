#include "storage/pg_connection.hpp"

#include <libpq-fe.h>

#include <cstdlib>

namespace stet::storage {

namespace {

bool ok_status(const PGresult* r) {
  auto s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

} // namespace

std::vector<const char*> pg_params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i)
    out.push_back(nulls_[i] ? nullptr : values_[i].c_str());
  return out;
}

void pg_array::text(std::string_view v) {
  separate();
  out_ += '"';
  for (char c : v) {
    if (c == '"' || c == '\\')
      out_ += '\\';
    out_ += c;
  }
  out_ += '"';
}

void pg_array::bytes(std::string_view v) {
  static constexpr char hex[] = "0123456789abcdef";
  separate();
  out_ += "\"\\\\x";
  for (unsigned char c : v) {
    out_ += hex[c >> 4];
    out_ += hex[c & 15];
  }
  out_ += '"';
}

void pg_array::number(std::uint64_t v) {
  separate();
  out_ += std::to_string(v);
}

void pg_array::number(std::int64_t v) {
  separate();
  out_ += std::to_string(v);
}

void pg_array::null() {
  separate();
  out_ += "NULL";
}

pg_rows::pg_rows(pg_result* r) : result_(r, &PQclear) {
}

int pg_rows::size() const noexcept {
  return PQntuples(result_.get());
}

std::string pg_rows::text(int row, int col) const {
  return {PQgetvalue(result_.get(), row, col), static_cast<std::size_t>(PQgetlength(result_.get(), row, col))};
}

std::uint64_t pg_rows::u64(int row, int col) const {
  return std::strtoull(PQgetvalue(result_.get(), row, col), nullptr, 10);
}

std::int64_t pg_rows::i64(int row, int col) const {
  return std::strtoll(PQgetvalue(result_.get(), row, col), nullptr, 10);
}

bool pg_rows::boolean(int row, int col) const {
  return PQgetvalue(result_.get(), row, col)[0] == 't';
}

std::string pg_rows::bytes(int row, int col) const {
  std::size_t n = 0;
  auto* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, col)), &n);
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

std::int64_t pg_rows::changed() const {
  return std::atoll(PQcmdTuples(result_.get()));
}

pg_connection::~pg_connection() {
  reset();
}

void pg_connection::reset() {
  if (conn_)
    PQfinish(conn_);
  conn_ = nullptr;
}

status pg_connection::ensure() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK)
    return ok();
  reset();
  // A database that vanishes without closing the connection (a partition,
  // a host gone) would hold this thread in a wait until TCP gives up,
  // minutes later. These bound connecting and waiting; the connection
  // string, read after them, may set its own, and PGCONNECT_TIMEOUT is
  // left to libpq when set.
  std::vector<const char*> keys{"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                "tcp_user_timeout"};
  std::vector<const char*> values{"1", "10", "5", "3", "30000"};
  if (!std::getenv("PGCONNECT_TIMEOUT")) {
    keys.push_back("connect_timeout");
    values.push_back("10");
  }
  keys.push_back("dbname");
  values.push_back(conninfo_.c_str());
  keys.push_back(nullptr);
  values.push_back(nullptr);
  conn_ = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (PQstatus(conn_) != CONNECTION_OK)
    return lost("connect");
  // Server NOTICEs ("relation already exists, skipping") are not our log.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  for (auto* s : sql::postgres_prepared()) {
    // Tables may not exist before the first migration; prepared again
    // after it (see pg_store::migrate).
    pg_rows r{PQprepare(conn_, s->name, s->postgres, 0, nullptr)};
    if (!ok_status(r.raw()))
      break;
  }
  return ok();
}

result<pg_rows> pg_connection::run(const sql::statement& s, const pg_params& p, std::string_view what) {
  if (auto st = ensure(); !st)
    return st.error();
  auto ptrs = p.pointers();
  pg_rows r{PQexecPrepared(conn_, s.name, p.size(), ptrs.data(), nullptr, nullptr, 0)};
  if (!ok_status(r.raw()))
    return refused(r, what);
  return r;
}

result<pg_rows> pg_connection::exec(const std::string& sql, std::string_view what, const pg_params& p) {
  if (auto st = ensure(); !st)
    return st.error();
  // Without parameters, several statements may go at once (migrations).
  auto ptrs = p.pointers();
  pg_rows r{p.size() == 0 ? PQexec(conn_, sql.c_str())
                          : PQexecParams(conn_, sql.c_str(), p.size(), nullptr, ptrs.data(), nullptr, nullptr, 0)};
  if (!ok_status(r.raw()))
    return refused(r, what);
  return r;
}

void pg_connection::rollback() {
  if (conn_)
    pg_rows{PQexec(conn_, "ROLLBACK")};
}

error pg_connection::refused(const pg_rows& failed, std::string_view what) {
  const char* state = failed.raw() ? PQresultErrorField(failed.raw(), PG_DIAG_SQLSTATE) : nullptr;
  std::string_view cls = state ? std::string_view{state}.substr(0, 2) : std::string_view{};
  if (state && std::string_view{state} == "26000") { // a statement this connection never prepared: prepare again
    auto err = lost(what);
    reset();
    return err;
  }
  if (cls != "22" && cls != "23" && cls != "42")
    return lost(what);
  std::string msg = PQresultErrorMessage(failed.raw());
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  return make_error(errc::internal, "the database refused to " + std::string{what}, "postgres: " + msg);
}

error pg_connection::lost(std::string_view what) {
  std::string msg = conn_ ? PQerrorMessage(conn_) : "not connected";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  if (conn_ && PQstatus(conn_) != CONNECTION_OK)
    reset();
  // The server's text can name hosts, roles and SQL: operators read it in
  // the log, clients only learn which step failed.
  return make_error(errc::storage_unavailable, "the database could not " + std::string{what} + "; retry shortly",
                    "postgres: " + msg);
}

} // namespace stet::storage
