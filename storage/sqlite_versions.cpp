// sqlite_store's named versions (migration 13).
#include "storage/sqlite_store.hpp"
#include "storage/statements.hpp"

namespace stet::storage {

namespace {

version_row read_version(sqlite_statement& s) {
  return {s.int64(0), {}, s.text(1), s.u64(2), s.int64(3), s.text(4), s.int64(5)};
}

} // namespace

result<version_row> sqlite_store::create_version(const version_row& v) {
  // One connection per store, used from one thread: nothing comes between
  // the count and the insert.
  auto kept = first<std::pair<std::int64_t, std::int64_t>>(
    prepared(sql::count_versions.sqlite).bind(1, v.doc_id), "count versions",
    [](sqlite_statement& s) { return std::pair{s.int64(0), s.int64(1)}; });
  if (!kept)
    return kept.error();
  auto [count, bytes] = kept->value_or(std::pair<std::int64_t, std::int64_t>{0, 0});
  if (auto full = version_limit(v, count, bytes))
    return *full;
  auto& st = prepared(sql::create_version.sqlite);
  st.bind(1, v.doc_id).bind(2, v.name).bind(3, v.rev).bind(4, v.content).bind_unless_zero(5, v.author_id);
  st.bind(6, v.created_at).bind(7, static_cast<std::int64_t>(v.content.size()));
  auto id = first<std::int64_t>(st, "store a version", [](sqlite_statement& s) { return s.int64(0); });
  if (!id)
    return id.error();
  if (!*id)
    return make_error(errc::unknown_document, "no document with id " + v.doc_id);
  version_row out = v;
  out.id = **id;
  return out;
}

result<std::vector<version_row>> sqlite_store::list_versions(std::string_view doc_id) {
  return collect<version_row>(prepared(sql::list_versions.sqlite).bind(1, doc_id), "read versions", read_version);
}

result<std::optional<version_row>> sqlite_store::find_version(std::string_view doc_id, std::int64_t id) {
  return first<version_row>(prepared(sql::find_version.sqlite).bind(1, doc_id).bind(2, id), "read a version",
                            [](sqlite_statement& s) {
                              auto v = read_version(s);
                              v.content = s.text(6);
                              return v;
                            });
}

result<bool> sqlite_store::delete_version(std::string_view doc_id, std::int64_t id) {
  if (auto st = run(prepared(sql::delete_version.sqlite).bind(1, doc_id).bind(2, id), "delete a version"); !st)
    return st.error();
  return sqlite3_changes(db_) == 1;
}

} // namespace stet::storage
