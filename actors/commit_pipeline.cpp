#include "actors/commit_pipeline.hpp"

#include <algorithm>

namespace stet {

void commit_pipeline::stage(std::optional<storage::op_row> row, pending_notice notice) {
  if (row) {
    staged_.last_rev = row->rev;
    staged_.writes.ops.push_back(std::move(*row));
  }
  staged_.notices.push_back(std::move(notice));
  ++edits_waiting_;
}

void commit_pipeline::stage(storage::session_event event) {
  staged_.writes.sessions.push_back(std::move(event));
}

storage::write_batch commit_pipeline::send(time_point now) {
  staged_.sent = now;
  auto writes = std::move(staged_.writes);
  staged_.writes = {};
  in_flight_ = std::move(staged_);
  staged_ = {};
  return writes;
}

std::vector<pending_notice> commit_pipeline::committed() {
  auto done = std::move(*in_flight_);
  in_flight_.reset();
  committed_rev_ = std::max(committed_rev_, done.last_rev);
  edits_waiting_ -= done.notices.size();
  return std::move(done.notices);
}

std::optional<commit_pipeline::time_point> commit_pipeline::oldest_sent() const {
  if (!in_flight_)
    return std::nullopt;
  return in_flight_->sent;
}

} // namespace stet
