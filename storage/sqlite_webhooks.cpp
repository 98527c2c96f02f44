// sqlite_store's side of the webhook outbox: the rows themselves are
// written by triggers (migration 12).
#include "storage/sqlite_store.hpp"
#include "storage/statements.hpp"

namespace stet::storage {

status sqlite_store::enable_webhooks(bool on) {
  return run(prepared(sql::webhooks_enable.sqlite).bind(1, static_cast<std::int64_t>(on)), "configure webhooks");
}

result<std::vector<webhook_row>> sqlite_store::due_webhooks(std::int64_t debounce_ms, std::int64_t max_wait_ms,
                                                            std::size_t limit) {
  auto& st = prepared(sql::webhooks_due.sqlite);
  st.bind(1, debounce_ms).bind(2, max_wait_ms).bind(3, static_cast<std::int64_t>(limit));
  return collect<webhook_row>(st, "read the webhook outbox", [](sqlite_statement& s) {
    return webhook_row{s.int64(0),  s.text(1),  s.text(2),  s.text(3), s.u64(4),
                       s.text(5),   s.int64(6), s.text(7),  s.text(8), s.int64(9),
                       static_cast<int>(s.int64(10))};
  });
}

status sqlite_store::webhook_delivered(std::int64_t id, std::uint64_t rev) {
  if (auto st = run(prepared(sql::webhook_delivered.sqlite).bind(1, id).bind(2, rev), "clear a webhook"); !st)
    return st;
  if (sqlite3_changes(db_) == 1)
    return ok();
  return run(prepared(sql::webhook_rearm.sqlite).bind(1, id), "clear a webhook");
}

status sqlite_store::webhook_failed(std::int64_t id, std::int64_t retry_in_ms) {
  return run(prepared(sql::webhook_failed.sqlite).bind(1, id).bind(2, retry_in_ms), "reschedule a webhook");
}

result<std::pair<std::int64_t, std::int64_t>> sqlite_store::expire_webhooks(std::int64_t max_age_ms) {
  auto dropped = collect<std::int64_t>(prepared(sql::webhooks_expire.sqlite).bind(1, max_age_ms),
                                       "expire webhooks", [](sqlite_statement& s) { return s.int64(0); });
  if (!dropped)
    return dropped.error();
  auto depth = first<std::int64_t>(prepared(sql::webhooks_depth.sqlite), "count webhooks",
                                   [](sqlite_statement& s) { return s.int64(0); });
  if (!depth)
    return depth.error();
  return std::pair<std::int64_t, std::int64_t>{static_cast<std::int64_t>(dropped->size()), depth->value_or(0)};
}

} // namespace stet::storage
