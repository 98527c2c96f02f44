// Keeps one client's edits of one document in order after an edit was
// refused for now ("resend it later": rate limits, queues while joining).
// A later edit of that client that got through first would make the
// resend look like a duplicate (deduplication remembers the highest
// clientSeq applied): acked, never applied. So once an edit is refused for
// now, the client's later edits are refused too until it is resent. The
// gateway keeps one per document a session joined; the document keeps the
// same rule per client for what it refuses itself (document::hold_back).
#pragma once

#include "core/error.hpp"

#include <cstdint>
#include <string>

namespace stet {

class resend_gate {
public:
  /// The edit with `client_seq` was refused for now.
  void refused(std::uint64_t client_seq) noexcept {
    if (first_refused_ == 0 || client_seq < first_refused_)
      first_refused_ = client_seq;
  }

  /// Whether the edit with `client_seq` may go on: not if an earlier one
  /// was refused and not resent yet. The refused one itself opens the gate.
  bool admits(std::uint64_t client_seq) noexcept {
    if (first_refused_ == 0 || client_seq < first_refused_)
      return true;
    if (client_seq > first_refused_)
      return false;
    first_refused_ = 0;
    return true;
  }

  /// The earliest clientSeq refused and not resent (0: none).
  std::uint64_t first_refused() const noexcept {
    return first_refused_;
  }

private:
  std::uint64_t first_refused_ = 0;
};

/// The answer to an edit held back because `first_refused` of the same
/// client was refused for now and not resent yet.
inline error out_of_order(std::uint64_t client_seq, std::uint64_t first_refused) {
  return make_error(errc::out_of_order, "clientSeq " + std::to_string(client_seq) + " was not applied: clientSeq "
                                          + std::to_string(first_refused)
                                          + " was refused before it; resend that one, then this one");
}

} // namespace stet
