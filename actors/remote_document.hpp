// Stands in, on a node that does not own a document, for the document
// actor on its owner: local sessions join, edit and leave through it as if
// it were the document; it relays their messages to the owner over Redis
// and hands them what the owner sends back (per session on this node's
// channel, applied edits once per edit on the document's channel), and
// holds each relayed edit's read credit until the owner answers it. It checks
// that revisions arrive without gaps; on a gap, a move or a Redis outage it
// tells its sessions to join again (they resume from their known revision).
#pragma once

#include "actors/api.hpp"
#include "actors/cluster_bus.hpp"

#include <map>

namespace stet {

struct remote_document_state {
  struct local_session {
    std::string client_id;
    bool echo = false;
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
    std::map<std::uint64_t, read_credit> unanswered{};
  };
  std::string doc_id;
  std::string owner;
  std::shared_ptr<cluster_bus> bus;
  std::map<std::string, local_session> sessions;
  std::vector<std::pair<caf::typed_response_promise<joined>, join_request>> waiting; // until subscribed
  bool subscribed = false;
  /// Last broadcast revision seen, for gap detection (0: none yet).
  std::uint64_t last_broadcast = 0;

  static inline const char* name = "remote_document";
};

using remote_document_self = remote_document_api::stateful_pointer<remote_document_state>;

/// The stand-in (remote_document_api) for `doc_id`, owned by `owner`.
remote_document_api::behavior_type remote_document(remote_document_self self, std::string doc_id, std::string owner,
                                                   std::shared_ptr<cluster_bus> bus);

} // namespace stet
