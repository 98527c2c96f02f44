// Presence changes of one document waiting to go out together.
//
// Changes are coalesced per client. Cursor moves go out at most once per
// cursor interval, joins and leaves (the roster) at most once per roster
// interval; the first change after a quiet interval goes at once, so a lone
// join or cursor move is not delayed. A burst of N joiners (a node
// restarting, a class opening one document) then costs each subscriber a
// frame per roster interval instead of one per joiner: unbatched, a
// restart's presence was O(N^2) frames per document and more than doubled
// the reconnect storm's resync time.
#pragma once

#include "proto/stet.pb.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace stet {

class presence_batch {
public:
  using clock = std::chrono::steady_clock;

  struct change {
    /// The session the change came from; it is not sent back there.
    std::string origin_session;
    wire::Presence presence;
  };

  /// Intervals of 0 send every change at once.
  presence_batch(std::chrono::milliseconds cursor_interval = {}, std::chrono::milliseconds roster_interval = {})
    : cursor_interval_(cursor_interval), roster_interval_(roster_interval) {
  }

  /// Records `p` from `origin_session`, replacing the same client's change
  /// that is still pending (only a client's latest state matters).
  void add(std::string origin_session, wire::Presence p);

  /// When the pending changes should go out: `now` when the last hand-over
  /// was at least an interval ago, else one interval after it (the cursor
  /// interval when a cursor moved, else the roster interval). Empty when
  /// nothing is pending.
  std::optional<clock::time_point> due(clock::time_point now) const;

  /// Hands over the pending changes, in the order their clients first
  /// appeared, and starts a new interval at `now`.
  std::vector<change> take(clock::time_point now);

private:
  std::chrono::milliseconds cursor_interval_;
  std::chrono::milliseconds roster_interval_;
  std::vector<change> pending_;
  std::optional<clock::time_point> last_take_;
};

} // namespace stet
