#include "gateway/edit_ledger.hpp"

namespace stet {

bool edit_ledger::hold(const std::string& doc_id, const edit_request& e) {
  edit_request copy = e;
  copy.credit.reset(); // the frame's read credit goes with the original
  std::lock_guard<std::mutex> guard{mutex_};
  auto& held = held_[doc_id];
  if (held.size() >= k_max_held && !held.count(e.client_seq))
    return false;
  held.insert_or_assign(e.client_seq, std::move(copy));
  return true;
}

void edit_ledger::answered(const std::string& doc_id, std::uint64_t client_seq) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = held_.find(doc_id);
  if (it == held_.end())
    return;
  it->second.erase(client_seq);
  if (it->second.empty())
    held_.erase(it);
}

std::vector<edit_request> edit_ledger::unanswered(const std::string& doc_id) const {
  std::vector<edit_request> out;
  std::lock_guard<std::mutex> guard{mutex_};
  auto it = held_.find(doc_id);
  if (it == held_.end())
    return out;
  out.reserve(it->second.size());
  for (auto& [seq, e] : it->second)
    out.push_back(e);
  return out;
}

void edit_ledger::forget(const std::string& doc_id) {
  std::lock_guard<std::mutex> guard{mutex_};
  held_.erase(doc_id);
}

} // namespace stet
