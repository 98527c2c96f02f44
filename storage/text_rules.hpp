// The one rule both backends apply to text before storing it: every string
// is stored byte-exact or refused. PostgreSQL's `text` cannot hold U+0000
// and libpq reads parameters as C strings, so a NUL would cut the stored
// value short there; both backends refuse it (nul_character) instead, so a
// document behaves the same on either.
#pragma once

#include "storage/store.hpp"

namespace stet::storage {

/// True when `s` holds U+0000. No stored name or id does, so a lookup by
/// such a key finds nothing (PostgreSQL would read it cut at the NUL).
bool holds_nul(std::string_view s) noexcept;

/// nul_character when any text of `batch` (snapshots, client ids, session
/// and node ids) holds U+0000; ok otherwise.
status check_texts(const write_batch& batch);
/// The same for a new document's id, title and content.
status check_texts(const document_row& row);
/// The same for a new user's name, email and password hash.
status check_texts(const user_row& user);

} // namespace stet::storage
