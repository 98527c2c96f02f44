// What this node knows of each user's token epoch: a token issued in an
// older epoch was revoked (logout, a new password, the account deleted).
// An epoch read from storage is trusted for `fresh_for`; a revoke made on
// this node, or heard from another over the bus, applies at once and is
// told to the user's open sessions here.
#pragma once

#include <caf/actor.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace stet {

class token_epochs {
public:
  explicit token_epochs(std::chrono::milliseconds fresh_for = std::chrono::seconds(2)) : fresh_for_(fresh_for) {
  }

  /// Thread-safe. The epoch known for `user_id`, if learned recently (or by
  /// a revoke, which stays known).
  std::optional<std::int64_t> known(std::int64_t user_id);
  /// Thread-safe. Records `epoch` (the highest seen wins); when it is newer
  /// than what the user's sessions here hold, sends each of them
  /// (token_atom, epoch). `revoked`: it comes from a revoke, not a read.
  void learn(std::int64_t user_id, std::int64_t epoch, bool revoked = false);

  /// Thread-safe. The sessions of a user, to be told of revokes.
  void attach(std::int64_t user_id, const caf::actor& session);
  void detach(std::int64_t user_id, const caf::actor& session);
  /// Thread-safe. The users with a session attached.
  std::vector<std::int64_t> users();

private:
  struct entry {
    std::int64_t epoch = 0;
    std::chrono::steady_clock::time_point read_at{};
    bool revoked = false;
    std::vector<caf::actor> sessions;
  };
  std::chrono::milliseconds fresh_for_;
  std::mutex mutex_;
  std::unordered_map<std::int64_t, entry> users_;
};

} // namespace stet
