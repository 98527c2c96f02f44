// pg_store's named versions (migration 13).
#include "storage/pg_connection.hpp"
#include "storage/pg_store.hpp"
#include "storage/statements.hpp"

namespace stet::storage {

namespace {

version_row read_version(const pg_rows& r, int i) {
  return {r.i64(i, 0), {}, r.text(i, 1), r.u64(i, 2), r.i64(i, 3), r.text(i, 4), r.i64(i, 5)};
}

} // namespace

result<version_row> pg_store::create_version(const version_row& v) {
  // Two callers counting at once may both add one past the limit: it
  // bounds storage, it is not an exact quota.
  auto count = db_->run(sql::count_versions, pg_params{}.text(v.doc_id), "count versions");
  if (!count)
    return count.error();
  if (count->size() == 1 && static_cast<std::size_t>(count->i64(0, 0)) >= k_max_versions_per_document)
    return make_error(errc::invalid_argument, "document " + v.doc_id + " keeps "
                                                + std::to_string(k_max_versions_per_document)
                                                + " named versions already, the most it may");
  auto r = db_->run(sql::create_version,
                    pg_params{}
                      .text(v.doc_id)
                      .text(v.name)
                      .number(v.rev)
                      .text(v.content)
                      .null_if_zero(v.author_id)
                      .number(v.created_at),
                    "store a version");
  if (!r)
    return r.error();
  version_row out = v;
  out.id = r->i64(0, 0);
  return out;
}

result<std::vector<version_row>> pg_store::list_versions(std::string_view doc_id) {
  return db_->collect<version_row>(sql::list_versions, pg_params{}.text(doc_id), "read versions", read_version);
}

result<std::optional<version_row>> pg_store::find_version(std::string_view doc_id, std::int64_t id) {
  auto r = db_->run(sql::find_version, pg_params{}.text(doc_id).number(id), "read a version");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return std::optional<version_row>{};
  auto v = read_version(*r, 0);
  v.content = r->text(0, 6);
  return std::optional<version_row>{std::move(v)};
}

} // namespace stet::storage
