// Stands in, on a node that does not own a document, for the document
// actor on its owner: local sessions join, edit and leave through it as if
// it were the document; it relays their messages to the owner over Redis
// and hands them what the owner sends back (per session on this node's
// channel, applied edits once per edit on the document's channel), and
// holds each relayed edit's read credit until the owner answers it. It checks
// that revisions arrive without gaps and that the owner answers; on a gap, a
// move, an owner that went quiet or a Redis outage its sessions' nodes
// re-attach them wherever the document is then, from the revision each was
// sent, and send again what was not answered.
#pragma once

#include "actors/api.hpp"
#include "actors/cluster_bus.hpp"

#include <chrono>
#include <map>

namespace stet {

/// How long a relayed join may go without a first frame, or a relayed edit
/// without its answer, before the stand-in takes its owner for gone. A dead
/// owner is noticed sooner, when the membership drops it (3 s), and a fenced
/// one says so; these catch what is lost on the way, and outlast what a
/// live owner may take (an access read and a load; a commit that storage
/// retries).
constexpr std::chrono::seconds k_relay_join_timeout{25};
constexpr std::chrono::seconds k_relay_edit_timeout{15};

struct remote_document_state {
  struct local_session {
    std::string client_id;
    bool echo = false;
    /// Re-attached after a move: the client keeps its text; the owner's
    /// resumed snapshot is for this stand-in only.
    bool quiet = false;
    session_sink_ptr sink;
    session_api gateway;
    /// Broadcasts reach a session only after its snapshot, and only
    /// revisions past what it already has (its catch-up comes as frames).
    bool synced = false;
    std::uint64_t rev = 0;
    /// Read credits of edits relayed to the owner and not yet answered
    /// (acked or refused), by client_seq: while the owner is behind, this
    /// node stops reading, as it does for the documents it owns (see
    /// read_throttle). Released with the session however it ends.
    struct relayed_edit {
      read_credit credit;
      std::chrono::steady_clock::time_point sent;
    };
    std::map<std::uint64_t, relayed_edit> unanswered{};
    /// The owner has sent this session something since its join went out.
    bool answered_once = false;
    std::chrono::steady_clock::time_point joined_at{};
  };
  std::string doc_id;
  std::string owner;
  std::shared_ptr<cluster_bus> bus;
  std::map<std::string, local_session> sessions;
  std::vector<std::pair<caf::typed_response_promise<joined>, join_request>> waiting; // until subscribed
  bool subscribed = false;
  std::chrono::steady_clock::time_point created_at{};
  std::int64_t made_ns = 0; // steady_now_ns: bus losses before it concern an earlier stand-in
  /// Last broadcast revision seen, for gap detection (0: none yet).
  std::uint64_t last_broadcast = 0;

  static inline const char* name = "remote_document";
};

using remote_document_self = remote_document_api::stateful_pointer<remote_document_state>;

/// The stand-in (remote_document_api) for `doc_id`, owned by `owner`.
remote_document_api::behavior_type remote_document(remote_document_self self, std::string doc_id, std::string owner,
                                                   std::shared_ptr<cluster_bus> bus);

} // namespace stet
