// What every listener, HTTP session and WebSocket session of one server
// shares: the actor system, the registry, storage, auth and the limits.
#pragma once

#include "actors/api.hpp"
#include "actors/node_health.hpp"
#include "actors/read_throttle.hpp"
#include "actors/registry_actor.hpp"
#include "auth/token.hpp"
#include "auth/token_bucket.hpp"
#include "gateway/client_address.hpp"
#include "gateway/identity.hpp"
#include "gateway/session_list.hpp"
#include "gateway/static_files.hpp"
#include "gateway/token_epochs.hpp"

#include <boost/asio/thread_pool.hpp>
#include <caf/actor.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace caf {
class actor_system;
}

namespace stet {

struct gateway_limits {
  /// Largest WebSocket message accepted, counted after decompression;
  /// larger ones close with 1009.
  std::size_t max_frame_bytes = 1024 * 1024;
  /// Offer permessage-deflate to clients that ask for it, with windows of
  /// 2^this bytes each way (9-15); 0: never compress. Each compressing
  /// session keeps its zlib state for good (27 KiB at 10 bits, measured).
  int compression_window_bits = 0;
  /// Frames queued for one session before it counts as a slow consumer.
  std::size_t max_queued_frames = 4096;
  /// Bytes queued for one session before it counts as a slow consumer.
  std::size_t max_queued_bytes = 16 * 1024 * 1024;
  /// ... and for all sessions of one address together: many slow sessions
  /// from one client cannot hold more than this of the server's memory.
  std::size_t max_queued_bytes_per_ip = 64 * 1024 * 1024;
  /// How long one write to a client may take; a client that stops reading
  /// is closed after this, however little is queued for it.
  std::chrono::milliseconds write_timeout{30'000};
  /// Frames read from clients and not yet handled, over the node, past
  /// which sessions stop reading until half are (see read_throttle); 0:
  /// never pause.
  std::size_t read_backlog_frames = 16384;
  /// Components in one edit.
  std::size_t max_ops_per_edit = 10000;
  /// Documents one session may have joined at once.
  std::size_t max_joins_per_session = 100;
  /// Joins per second per session (burst twice that): a join costs the
  /// owner a snapshot or a replay, so a client looping on join is slowed.
  double joins_per_second_per_session = 20;
  /// Messages a session may send for a document while its join is under way
  /// (they wait for the snapshot); past it they are refused.
  std::size_t max_messages_while_joining = 1024;
  /// Largest HTTP request body.
  std::size_t max_http_body_bytes = 1024 * 1024;
  /// Edits per second per session and per user (token buckets, burst 2x).
  double edits_per_second_per_session = 500;
  double edits_per_second_per_user = 1000;
  /// Open connections from one IP address.
  std::size_t max_connections_per_ip = 256;
  /// Login attempts per minute per (username, IP address), charged before
  /// the password is checked and refunded when it was right; an IP address
  /// (which many users may share) gets six times as many over all names.
  /// Per pair, not per name: a guesser elsewhere cannot lock the user out.
  double logins_per_minute = 10;
  /// Accounts one IP address may register per hour.
  double registrations_per_hour = 20;
  /// Documents a user may create per hour, and an anonymous address.
  double documents_per_hour_per_user = 1000;
  double documents_per_hour_per_ip = 100;
  /// Password hashes (login, register) queued or running at once; past it
  /// requests get 503 at once instead of waiting behind a flood.
  std::size_t max_password_hashes = 64;
};

struct auth_settings {
  /// Signs and checks tokens; the key never has a built-in default.
  std::shared_ptr<auth::token_signer> signer;
  /// An application's identity provider's tokens (JWTs), when configured.
  std::shared_ptr<auth::jwt_verifier> jwt{};
  /// Sessions and requests without a token act as the anonymous user.
  bool allow_anonymous = false;
  std::int64_t token_ttl_seconds = 24 * 3600;
  /// Origins allowed to open WebSockets; empty: the request's own host only.
  std::vector<std::string> allowed_origins;
};

struct gateway_context {
  gateway_context(caf::actor_system& sys, registry_api reg, std::vector<storage_api> storage, gateway_limits lim,
                  auth_settings au, std::string node, std::shared_ptr<node_health> h, std::string web)
    : system(sys),
      registry(std::move(reg)),
      stores(std::move(storage)),
      limits(lim),
      auth(std::move(au)),
      node_id(std::move(node)),
      health(std::move(h)),
      web_root(std::move(web)),
      site(static_site::load(web_root)),
      user_edits(std::make_shared<auth::keyed_limiter>(lim.edits_per_second_per_user,
                                                       2 * lim.edits_per_second_per_user)),
      user_logins(lim.logins_per_minute / 60.0, lim.logins_per_minute),
      ip_logins(6 * lim.logins_per_minute / 60.0, 6 * lim.logins_per_minute),
      ip_registrations(lim.registrations_per_hour / 3600.0, lim.registrations_per_hour),
      version_names(1.0, 10.0),
      comment_changes(5.0, 20.0),
      throttle(std::make_shared<read_throttle>(lim.read_backlog_frames, lim.read_backlog_frames / 2)) {
  }

  caf::actor_system& system;
  registry_api registry;
  /// Storage actors, for REST work (same one per document as its actor uses).
  std::vector<storage_api> stores;
  /// The same, shared with the sessions' gateway actors.
  std::shared_ptr<const std::vector<storage_api>> store_list = std::make_shared<const std::vector<storage_api>>(stores);
  /// Storage actors on a streaming replica (--postgres-read; may be empty):
  /// REST reads of history go there first.
  std::vector<storage_api> replicas;
  gateway_limits limits;
  auth_settings auth;
  std::string node_id;
  std::shared_ptr<node_health> health;
  /// Folder of the web client's static files; empty: none served.
  std::string web_root;
  /// Its files, read once (see static_site).
  static_site site;
  /// Token epochs of the users seen here (revocation).
  std::shared_ptr<token_epochs> epochs = std::make_shared<token_epochs>();
  /// User ids of an identity provider's users seen here.
  std::shared_ptr<external_ids> external = std::make_shared<external_ids>();
  /// Every WebSocket session, closed together when the node stops.
  session_list sessions;
  /// Documents created per user or address, by joins and the REST API alike.
  std::shared_ptr<auth::creation_quota> creations;
  /// Peers whose X-Forwarded-For names the client (see client_address).
  trusted_proxies proxies;
  /// /metrics and /readyz are served only on the operations port when
  /// there is one (--metrics-listen), not to the public.
  bool operations_port = false;
  /// Password hashing runs here, off the Asio and CAF threads; at most
  /// limits.max_password_hashes at a time are queued (see crypto_slot).
  boost::asio::thread_pool crypto{1};
  std::atomic<std::size_t> crypto_queued{0};
  /// Shared with the gateway actors, which may outlive this context.
  std::shared_ptr<auth::keyed_limiter> user_edits;
  auth::keyed_limiter user_logins; // keyed by username and IP
  auth::keyed_limiter ip_logins;
  auth::keyed_limiter ip_registrations;
  /// Named versions per user (per address for anonymous callers): one a
  /// second, ten at once; each is a whole copy of the text.
  auth::keyed_limiter version_names;
  /// Changes to comment threads per user (per address for anonymous
  /// callers): five a second, twenty at once. Each joins the document for
  /// a moment, which costs its owner a snapshot.
  auth::keyed_limiter comment_changes;
  std::atomic<std::uint64_t> next_session{1};
  std::atomic<std::int64_t> open_sessions{0};
  /// Pauses every session's reads while the node is behind on what they read.
  std::shared_ptr<read_throttle> throttle;

  /// Counts a connection from `ip` (a limit_key); false when it is over
  /// the limit. A trusted proxy's connections are counted, never limited.
  bool open_connection(const std::string& ip, bool limited = true);
  void close_connection(const std::string& ip);

  const storage_api& store_for(const std::string& key) const;
  /// The replica's storage actor for `key`, or null without replicas.
  const storage_api* replica_for(const std::string& key) const {
    return replicas.empty() ? nullptr : &replicas[storage_index(key, replicas.size())];
  }

  /// Bytes queued for the sessions of address `ip` (a limit_key), shared by
  /// them; the entry goes when the last of them does.
  using queued_bytes = std::shared_ptr<std::atomic<std::size_t>>;
  queued_bytes queue_budget(const std::string& ip);

private:
  std::mutex connections_mutex_;
  std::unordered_map<std::string, std::size_t> connections_;
  std::unordered_map<std::string, std::weak_ptr<std::atomic<std::size_t>>> queued_per_ip_;
};

/// Holds one counted connection for as long as it lives (moves from the
/// HTTP session to the WebSocket session on upgrade).
class connection_slot {
public:
  connection_slot(gateway_context& ctx, std::string ip) : ctx_(&ctx), ip_(std::move(ip)) {
  }
  connection_slot(connection_slot&& other) noexcept : ctx_(other.ctx_), ip_(std::move(other.ip_)) {
    other.ctx_ = nullptr;
  }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  connection_slot& operator=(connection_slot&&) = delete;
  ~connection_slot() {
    if (ctx_)
      ctx_->close_connection(ip_);
  }
  const std::string& ip() const {
    return ip_;
  }

private:
  gateway_context* ctx_;
  std::string ip_;
};

} // namespace stet
