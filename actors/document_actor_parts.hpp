// The document actor's parts shared between its files: document_actor.cpp
// (commits, snapshots, idling, closing, edits, the behavior) and
// document_sessions.cpp (joins, leaves, presence, who may open it).
// Internal to actors/.
#pragma once

#include "actors/document_actor.hpp"

#include <functional>
#include <string>

namespace stet::document_parts {

std::int64_t wall_ms();

// -- document_actor.cpp --

/// Sends what is staged to storage (now, or after the mailbox's messages).
void flush(document_self self);
/// Schedules the idle check when nothing is left to do.
void maybe_idle(document_self self);
/// Tells every session and waiting join `why`, and stops.
void close_with(document_self self, const error& why);
/// Orders one edit of a joined session.
void on_edit(document_self self, edit_request& req);

// -- document_sessions.cpp --

/// Queues a presence change; it goes out with the next hand-over.
void announce(document_self self, std::string origin_session, wire::Presence p);
/// Hands the pending presence changes over.
void flush_presence(document_self self);
/// Admits a session now, or once who may open the document is re-read.
caf::result<joined> join(document_self self, join_request& req);
/// Removes the sessions, joined or waiting, for which `pred(session, node)`.
void leave(document_self self, const std::function<bool(const std::string&, const std::string&)>& pred);
/// The gateway of local sessions went down.
void gateway_down(document_self self, const caf::actor_addr& gateway);
/// Frames for `node`'s sessions (every other node's, for "") were lost on
/// the bus at `lost_at` (steady_now_ns): each joined before then is told
/// `fenced` (its node re-attaches it from the last revision it was sent)
/// and forgotten here.
void reattach_remote(document_self self, const std::string& node, std::int64_t lost_at);
/// An edit of a session whose join waits: kept for after it. True when
/// it was kept or refused here.
bool defer_edit(document_self self, edit_request& req);
/// Applies what may be a newer grant (or revoke) of one user.
void hear_grant(document_self self, std::int64_t user_id, const std::string& role, std::uint64_t version);
/// Reads who may open the document again.
void refresh_access(document_self self);
/// Whether `author` may make this change to the comment threads (an error
/// naming why not): commenters, editors and owners open, reply, resolve
/// and reopen; a thread is deleted by its signed-in author or the owner
/// (on a document without an owner, which has no one to ask, by any editor).
std::optional<error> check_comment(const document_actor_state& st, const comment_action& a, const subscriber& author);
/// The periodic re-read while the document has sessions.
void on_recheck(document_self self);

} // namespace stet::document_parts
