#include "proto/comment_codec.hpp"

#include "core/utf8.hpp"

#include <google/protobuf/util/json_util.h>

namespace stet::wire {

result<comment_action> to_comment(const CommentAction& in) {
  auto kind = parse_comment_kind(in.kind());
  if (!kind)
    return make_error(errc::invalid_argument, "comment.kind must be open, reply, resolve, reopen or delete");
  if (auto st = utf8::check_text(in.text(), "comment.text"); !st)
    return st.error();
  if (auto st = utf8::check_text(in.user(), "comment.user"); !st)
    return st.error();
  comment_action a;
  a.kind = *kind;
  a.thread = in.thread();
  a.start = in.start();
  a.end = in.end();
  a.text = in.text();
  a.user = in.user();
  return a;
}

void to_wire(const comment_action& a, CommentAction* out) {
  out->set_kind(std::string{to_string(a.kind)});
  if (a.thread)
    out->set_thread(a.thread);
  if (a.kind == comment_kind::open) {
    out->set_start(static_cast<std::uint32_t>(a.start));
    out->set_end(static_cast<std::uint32_t>(a.end));
  }
  if (!a.text.empty())
    out->set_text(a.text);
  if (!a.user.empty())
    out->set_user(a.user);
}

void to_wire(const comment_thread& t, CommentThread* out) {
  out->set_id(t.id);
  out->set_start(static_cast<std::uint32_t>(t.start));
  out->set_end(static_cast<std::uint32_t>(t.end));
  out->set_detached(t.detached);
  out->set_resolved(t.resolved);
  for (auto& e : t.entries) {
    auto* w = out->add_entries();
    w->set_rev(e.rev);
    if (e.user_id)
      w->set_user_id(e.user_id);
    if (!e.user.empty())
      w->set_user(e.user);
    w->set_text(e.text);
    w->set_ts(e.ts);
  }
}

std::string encode_threads(const std::map<std::uint64_t, comment_thread>& threads) {
  if (threads.empty())
    return {};
  CommentThreads all;
  for (auto& [id, t] : threads)
    to_wire(t, all.add_threads());
  std::string out;
  (void) google::protobuf::util::MessageToJsonString(all, &out);
  return out;
}

result<std::map<std::uint64_t, comment_thread>> decode_threads(std::string_view stored) {
  std::map<std::uint64_t, comment_thread> out;
  if (stored.empty())
    return out;
  CommentThreads all;
  // Fields a later version adds are skipped: a rollback still opens the document.
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  if (auto st = google::protobuf::util::JsonStringToMessage(std::string{stored}, &all, lenient); !st.ok())
    return make_error(errc::internal, "the stored comment threads are damaged: " + std::string{st.message()});
  for (auto& w : all.threads()) {
    comment_thread t{w.id(), w.start(), w.end(), w.detached(), w.resolved(), {}};
    for (auto& e : w.entries())
      t.entries.push_back({e.rev(), e.user_id(), e.user(), e.text(), e.ts()});
    bool fits = t.id != 0 && !t.entries.empty() && (t.detached ? t.start == t.end : t.start < t.end);
    if (!fits || out.count(t.id))
      return make_error(errc::internal, "the stored comment thread " + std::to_string(w.id()) + " is damaged");
    out[t.id] = std::move(t);
  }
  return out;
}

} // namespace stet::wire
