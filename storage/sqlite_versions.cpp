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
  auto count = first<std::int64_t>(prepared(sql::count_versions.sqlite).bind(1, v.doc_id), "count versions",
                                   [](sqlite_statement& s) { return s.int64(0); });
  if (!count)
    return count.error();
  if (static_cast<std::size_t>(count->value_or(0)) >= k_max_versions_per_document)
    return make_error(errc::invalid_argument, "document " + v.doc_id + " keeps "
                                                + std::to_string(k_max_versions_per_document)
                                                + " named versions already, the most it may");
  auto& st = prepared(sql::create_version.sqlite);
  st.bind(1, v.doc_id).bind(2, v.name).bind(3, v.rev).bind(4, v.content).bind_unless_zero(5, v.author_id);
  st.bind(6, v.created_at);
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

} // namespace stet::storage
