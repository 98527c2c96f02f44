#include "storage/commit_plan.hpp"

#include "storage/text_rules.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace stet::storage {

result<commit_plan> commit_plan::of(const write_batch& batch) {
  if (auto st = check_texts(batch); !st)
    return st.error();
  commit_plan plan;
  // A batch may hold thousands of documents: found by hash, not by search.
  std::unordered_map<std::string_view, std::size_t> index;
  for (auto& op : batch.ops) {
    auto [at, fresh] = index.try_emplace(op.doc_id, plan.advances_.size());
    if (fresh) {
      plan.advances_.push_back({op.doc_id, op.rev, op.rev, op.ts, op.epoch});
      continue;
    }
    auto it = plan.advances_.begin() + static_cast<std::ptrdiff_t>(at->second);
    if (op.rev != it->last_rev + 1)
      return make_error(errc::internal, "document " + op.doc_id + ": a write holds rev " + std::to_string(op.rev)
                                          + " after rev " + std::to_string(it->last_rev));
    it->last_rev = op.rev;
    it->last_ts = std::max(it->last_ts, op.ts);
  }
  return plan;
}

error commit_plan::rev_taken(const op_row& op) {
  // Only another owner commits there: this one lost the document.
  return make_error(errc::fenced, "rev " + std::to_string(op.rev) + " of " + op.doc_id
                                    + " is already taken by another owner's edit");
}

error commit_plan::not_advanced(const document_advance& a, const std::optional<document_row>& stored) {
  if (!stored)
    return make_error(errc::unknown_document, "document " + a.doc_id + " was deleted");
  if (stored->owner_epoch != a.epoch)
    return make_error(errc::fenced, "document " + a.doc_id + " is no longer leased at epoch "
                                      + std::to_string(a.epoch) + " (now " + std::to_string(stored->owner_epoch)
                                      + ")");
  return make_error(errc::internal, "document " + a.doc_id + " is at rev " + std::to_string(stored->rev)
                                      + "; a write from rev " + std::to_string(a.first_rev)
                                      + " would leave a gap in its history");
}

error commit_plan::explain(store& s, error err) const {
  for (auto& a : advances_)
    if (auto found = s.find_document(a.doc_id); found && !*found)
      return make_error(errc::unknown_document, "document " + a.doc_id + " was deleted");
  return err;
}

} // namespace stet::storage
