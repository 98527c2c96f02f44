// pg_store's side of the webhook outbox: the rows themselves are written
// by triggers (migration 12).
#include "storage/pg_connection.hpp"
#include "storage/pg_store.hpp"
#include "storage/statements.hpp"

namespace stet::storage {

status pg_store::enable_webhooks(bool on) {
  auto r = db_->run(sql::webhooks_enable, pg_params{}.boolean(on), "configure webhooks");
  return r ? ok() : status{r.error()};
}

result<std::vector<webhook_row>> pg_store::due_webhooks(std::int64_t debounce_ms, std::int64_t max_wait_ms,
                                                        std::size_t limit) {
  return db_->collect<webhook_row>(
    sql::webhooks_due,
    pg_params{}.number(debounce_ms).number(max_wait_ms).number(static_cast<std::int64_t>(limit)),
    "read the webhook outbox", [](const pg_rows& r, int i) {
      return webhook_row{r.i64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.u64(i, 4), r.text(i, 5),
                         r.i64(i, 6), r.text(i, 7), r.text(i, 8), r.i64(i, 9), static_cast<int>(r.i64(i, 10))};
    });
}

status pg_store::webhook_delivered(std::int64_t id, std::uint64_t rev) {
  auto r = db_->run(sql::webhook_delivered, pg_params{}.number(id).number(rev), "clear a webhook");
  if (!r)
    return r.error();
  if (r->changed() == 1)
    return ok();
  auto again = db_->run(sql::webhook_rearm, pg_params{}.number(id), "clear a webhook");
  return again ? ok() : status{again.error()};
}

status pg_store::webhook_failed(std::int64_t id, std::int64_t retry_in_ms) {
  auto r = db_->run(sql::webhook_failed, pg_params{}.number(id).number(retry_in_ms), "reschedule a webhook");
  return r ? ok() : status{r.error()};
}

result<std::pair<std::int64_t, std::int64_t>> pg_store::expire_webhooks(std::int64_t max_age_ms) {
  auto dropped = db_->run(sql::webhooks_expire, pg_params{}.number(max_age_ms), "expire webhooks");
  if (!dropped)
    return dropped.error();
  auto depth = db_->run(sql::webhooks_depth, pg_params{}, "count webhooks");
  if (!depth)
    return depth.error();
  return std::pair<std::int64_t, std::int64_t>{dropped->size(), depth->i64(0, 0)};
}

} // namespace stet::storage
