// The sessions joined to one document, and what they hear: what a commit
// released (acks, applied edits, conflict notices) and presence. Sessions on
// this node get frames through their sinks; sessions on other nodes get
// their acks and notices through their node's channel, and every applied
// edit once per commit on the document's channel. Each session gets what
// one commit released in one hand-over (one hop onto its strand, one frame
// when it batches). No actor code: the document actor owns one.
#pragma once

#include "actors/commit_pipeline.hpp"
#include "actors/messages.hpp"
#include "actors/presence_batch.hpp"
#include "actors/cluster_bus.hpp"
#include "actors/session_sink.hpp"
#include "auth/access.hpp"

#include <caf/actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace stet {

/// A joined session. Sessions are named by (remote_node, session_id): ids
/// are only unique within their node.
struct subscriber {
  std::string session_id;
  std::string client_id;
  std::int64_t user_id = 0;
  std::string username;
  auth::role role = auth::role::none;
  /// The role is the token's scope, not the access list's.
  bool scoped = false;
  bool echo = false;
  session_sink_ptr sink;
  session_api gateway;     // none for a session of another node
  std::string remote_node; // empty: a session on this node
  /// The last edit received from this (remote) session, to see one lost on the bus.
  std::uint64_t last_seq = 0;
  /// When it joined (steady_now_ns): a bus loss before that missed nothing of it.
  std::int64_t joined_ns = 0;
};

class fanout {
public:
  /// `bus` (null when not clustered) carries what sessions of other nodes
  /// hear.
  fanout(std::string doc_id, std::shared_ptr<cluster_bus> bus) : doc_id_(std::move(doc_id)), bus_(std::move(bus)) {
  }

  std::vector<subscriber>& subscribers() noexcept {
    return subscribers_;
  }
  /// The session (node "" for one on this node), or nullptr.
  subscriber* find(const std::string& node, const std::string& session_id);

  /// What a joining session hears first: resuming from its known revision
  /// (kept in the history), every revision it missed (its own as acks);
  /// else a snapshot of the committed text. Either way the participants.
  void welcome(const join_request& req, const document& doc, std::uint64_t committed_rev);
  /// Tells every session what a commit released, in edit order.
  void deliver(const std::vector<pending_notice>& notices);
  /// Hands each session the presence changes of everyone else.
  void presence(std::vector<presence_batch::change> changes);

private:
  std::string doc_id_;
  std::shared_ptr<cluster_bus> bus_;
  std::vector<subscriber> subscribers_;
};

/// An `applied` for one revision.
wire::ServerMessage applied_message(const document& doc, const history_entry& e);

/// Who a session is, as presence shows it: its client id and its user.
template <class Message>
void set_identity(Message* m, const std::string& client_id, std::int64_t user_id, const std::string& username) {
  m->set_client_id(client_id);
  if (user_id) {
    m->set_user_id(user_id);
    m->set_user(username);
  }
}

/// An `ack` for `client_seq` committed as `rev` (stamped `ts`, 0: none).
wire::ServerMessage ack_message(const std::string& doc_id, std::uint64_t client_seq, std::uint64_t rev,
                                std::uint64_t ts);

} // namespace stet
