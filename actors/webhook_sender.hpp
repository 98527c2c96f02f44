// Delivers the webhook outbox to an application's receivers. The outbox is
// written by the database in the transaction that causes each event
// (storage migration 12), so an event committed just before a crash is
// still there after the restart; this actor polls it, sends each event of
// a document this node owns to every receiver (signed), and clears it only
// once every receiver answered 2xx. Failures are retried with backoff for
// 24 hours. At least once: a receiver deduplicates by X-Stet-Delivery.
#pragma once

#include "actors/api.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_actor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace stet {

struct webhook_request {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// How requests leave the node (gateway/webhook_client: Beast, HTTP and
/// HTTPS); actors do no I/O.
class webhook_transport {
public:
  virtual ~webhook_transport() = default;
  /// Posts `req`; `done` runs once, on any thread, with the HTTP status
  /// (0 when none came) and what went wrong.
  virtual void post(webhook_request req, std::function<void(int status, std::string error)> done) = 0;
};

struct webhook_config {
  std::vector<std::string> urls;
  /// Signs every body: X-Stet-Signature: sha256=<hex HMAC-SHA256>.
  std::string secret;
  /// A document's changes are sent once it was quiet this long, or at
  /// most this long after the first of them (as Hocuspocus's webhooks).
  std::chrono::milliseconds debounce{2000};
  std::chrono::milliseconds max_wait{10000};
  std::chrono::milliseconds poll{250};
  std::shared_ptr<webhook_transport> transport{};
};

/// Backoff before attempt `attempts + 1`: 1 s doubling to 10 minutes.
std::chrono::milliseconds webhook_backoff(int attempts);

/// X-Stet-Delivery (also in the signed body as deliveryId): unique per
/// event, the same on every retry of the same content; a change's is
/// "<docId>@<rev>".
std::string webhook_delivery_id(const storage::webhook_row& row, std::uint64_t rev);

/// The JSON body of `row` (document.changed: with `text` at `rev`).
std::string webhook_body(const storage::webhook_row& row, std::uint64_t rev, const std::string* text);

using webhook_sender_api = caf::typed_actor<
  /// Its own timer: look at the outbox.
  caf::reacts_to<hook_atom>,
  /// A receiver's answer: (event, url, HTTP status or 0, error).
  caf::reacts_to<hook_done_atom, std::int64_t, std::string, int, std::string>>;

webhook_sender_api spawn_webhook_sender(caf::actor_system& system, storage_api store, registry_api registry,
                                        webhook_config config);

} // namespace stet
