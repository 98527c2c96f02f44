// The rules every backend applies to a write_batch, and the errors they end
// in, written once. A commit appends each op at its revision (an op already
// stored there counts as committed when it is this very edit: the retry of
// a commit whose answer was lost), advances each document it touches
// (only under the document's lease epoch, and only when the batch follows
// the document's stored revision, so no op log gets a gap), records
// sessions, and stores snapshots: each pruned client's newest sequence
// number is kept before the op log behind the snapshot is pruned. All or
// nothing, in one transaction.
#pragma once

#include "storage/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace stet::storage {

/// What one commit does to one document's row.
struct document_advance {
  std::string doc_id;
  std::uint64_t first_rev = 0; // the batch's first op of the document
  std::uint64_t last_rev = 0;
  std::uint64_t last_ts = 0;
  std::uint64_t epoch = 0;
};

class commit_plan {
public:
  /// The plan for `batch`. Errors: nul_character (see text_rules.hpp);
  /// internal when a document's ops in the batch are not consecutive.
  static result<commit_plan> of(const write_batch& batch);

  /// One per document with ops in the batch, in the order they first appear.
  const std::vector<document_advance>& advances() const noexcept {
    return advances_;
  }

  // -- why a commit failed, as errors a caller can act on --

  /// The revision `op` is written at holds another edit: internal (the
  /// document's history and its writer disagree; retrying cannot help).
  static error rev_taken(const op_row& op);
  /// Why `a` did not advance, from the document as stored now (none: it
  /// was deleted): unknown_document, fenced (its lease moved on), or
  /// internal (its stored revision is behind the batch: a gap).
  static error not_advanced(const document_advance& a, const std::optional<document_row>& stored);

  /// What a commit that failed with `err` should answer: unknown_document
  /// when one of its documents was deleted meanwhile (retrying could never
  /// help), else `err`. Reads `s` after the transaction rolled back.
  error explain(store& s, error err) const;

private:
  std::vector<document_advance> advances_;
};

} // namespace stet::storage
