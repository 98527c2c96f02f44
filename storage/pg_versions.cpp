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
  auto kept = db_->run(sql::count_versions, pg_params{}.text(v.doc_id), "count versions");
  if (!kept)
    return kept.error();
  if (kept->size() == 1)
    if (auto full = version_limit(v, kept->i64(0, 0), kept->i64(0, 1)))
      return *full;
  auto r = db_->run(sql::create_version,
                    pg_params{}
                      .text(v.doc_id)
                      .text(v.name)
                      .number(v.rev)
                      .text(v.content)
                      .null_if_zero(v.author_id)
                      .number(v.created_at)
                      .number(static_cast<std::int64_t>(v.content.size())),
                    "store a version");
  if (!r)
    return r.error();
  if (r->size() == 0)
    return make_error(errc::unknown_document, "no document with id " + v.doc_id);
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

result<bool> pg_store::delete_version(std::string_view doc_id, std::int64_t id) {
  auto r = db_->run(sql::delete_version, pg_params{}.text(doc_id).number(id), "delete a version");
  if (!r)
    return r.error();
  return r->changed() == 1;
}

} // namespace stet::storage
