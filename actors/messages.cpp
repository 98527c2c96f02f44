#include "actors/messages.hpp"

#include "proto/codec.hpp"
#include "proto/comment_codec.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>
#include <caf/to_string.hpp>

namespace stet {

namespace {
constexpr auto k_category = caf::atom("stet");
}

result<document> restore(const loaded_document& stored, document_limits limits) {
  auto& row = stored.row;
  stored_document decoded{row.id, parse_conflict_policy(row.policy).value_or(conflict_policy::lww), row.content,
                          row.snapshot_rev, row.last_ts, {}, {}};
  auto threads = wire::decode_threads(row.comments);
  if (!threads)
    return make_error(errc::internal, "document " + row.id + " cannot be opened: its stored comments are damaged",
                      threads.error().message);
  decoded.comments = std::move(*threads);
  decoded.log.reserve(stored.ops.size());
  for (auto& r : stored.ops) {
    std::optional<comment_action> comment;
    auto op = wire::decode_stored(r.ops, &comment);
    if (!op)
      return make_error(errc::internal, "document " + row.id + " cannot be opened: its stored history is damaged",
                        "rev " + std::to_string(r.rev) + ": " + op.error().message);
    decoded.log.push_back({r.rev, std::move(*op), r.client_id, r.author_id, r.client_seq, r.ts, 0,
                           comment ? std::make_shared<const comment_action>(std::move(*comment)) : nullptr});
  }
  for (auto& c : stored.clients)
    decoded.clients.push_back({c.client_id, c.client_seq, c.rev});
  return document::restore(std::move(decoded), limits);
}

caf::error to_caf(const error& err) {
  return caf::error{static_cast<std::uint8_t>(static_cast<int>(err.code) + 1), k_category,
                    caf::make_message(err.message, err.detail)};
}

error from_caf(const caf::error& err) {
  if (err.category() == k_category && err.code() > 0) {
    std::string message;
    std::string detail;
    if (err.context().match_elements<std::string, std::string>()) {
      message = err.context().get_as<std::string>(0);
      detail = err.context().get_as<std::string>(1);
    }
    return error{static_cast<errc>(err.code() - 1), std::move(message), std::move(detail)};
  }
  if (err == caf::sec::request_timeout)
    return error{errc::overloaded, "the server did not answer in time; retry shortly", caf::to_string(err)};
  return error{errc::internal, "the server failed to answer", caf::to_string(err)};
}

} // namespace stet
