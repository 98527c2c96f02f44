#include "storage/text_rules.hpp"

namespace stet::storage {

bool holds_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

namespace {

bool has_nul(std::string_view s) {
  return holds_nul(s);
}

status refused(std::string_view what) {
  return make_error(errc::nul_character, std::string{what} + " contains U+0000 (NUL), which stet does not store");
}

} // namespace

status check_texts(const write_batch& batch) {
  for (auto& op : batch.ops)
    if (has_nul(op.doc_id) || has_nul(op.client_id))
      return refused("an edit's document or client id");
  for (auto& s : batch.sessions)
    if (has_nul(s.session_id) || has_nul(s.doc_id) || has_nul(s.node_id) || has_nul(s.user_id))
      return refused("a session record");
  for (auto& s : batch.snapshots)
    if (has_nul(s.doc_id) || has_nul(s.content) || has_nul(s.comments))
      return refused("the text of document " + s.doc_id.substr(0, s.doc_id.find('\0')));
  return ok();
}

status check_texts(const document_row& row) {
  if (has_nul(row.id) || has_nul(row.title) || has_nul(row.content) || has_nul(row.policy))
    return refused("the document's id, title or text");
  return ok();
}

status check_texts(const user_row& user) {
  if (has_nul(user.username) || has_nul(user.email) || has_nul(user.password_hash))
    return refused("the username or email");
  return ok();
}

} // namespace stet::storage
