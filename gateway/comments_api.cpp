// Comment threads over REST: read with the document's committed state,
// changed through the document's owner as edits of their own (ordered with
// the text, durable, and heard live by every session as `applied`).
//
//   GET    /api/documents/{id}/comments                  {rev, threads}
//   POST   /api/documents/{id}/comments                  {start, end, text, baseRev}
//   POST   /api/documents/{id}/comments/{thread}/replies {text}
//   POST   /api/documents/{id}/comments/{thread}/resolve
//   POST   /api/documents/{id}/comments/{thread}/reopen
//   DELETE /api/documents/{id}/comments/{thread}
// Each change may carry clientId and clientSeq, as REST edits do.
#include "gateway/api_call.hpp"

#include "core/utf8.hpp"
#include "proto/comment_codec.hpp"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <limits>

namespace stet::api {

namespace {

// In the WebSocket protocol's JSON form (camelCase; 64-bit numbers as
// strings), so a page reads a thread the same way from either.
json to_json(const std::map<std::uint64_t, comment_thread>& threads) {
  json out = json::array();
  for (auto& [id, t] : threads) {
    wire::CommentThread w;
    wire::to_wire(t, &w);
    std::string text;
    (void) google::protobuf::util::MessageToJsonString(w, &text);
    out.push_back(json::parse(text));
  }
  return out;
}

void list_comments(const call_ptr& c, const std::string& id, const std::string& scoped) {
  ask_store(
    c, id,
    [c, id](visible_document&) {
      ask(
        c, c->ctx.registry,
        [c](document_view& v) { c->respond(http::status::ok, json{{"rev", v.rev}, {"threads", to_json(v.comments)}}); },
        {}, get_atom::value, id, k_current_rev);
    },
    open_atom::value, id, c->user.user_id, scoped);
}

// A code point position: a whole number below 2^32 (the wire's width).
std::optional<std::size_t> position(const call& c, const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > 0xffffffffu) {
    c.fail(errc::invalid_argument, std::string{key} + " must be a position in code points (a whole number)");
    return std::nullopt;
  }
  return it->get<std::size_t>();
}

std::optional<std::string> message(const call& c, const json& body) {
  auto text = field<std::string>(c, body, "text");
  if (!text)
    return std::nullopt;
  if (text->empty()) {
    c.fail(errc::invalid_argument, "text (the comment) must not be empty");
    return std::nullopt;
  }
  if (auto st = utf8::check_text(*text, "text"); !st) {
    c.fail(st.error());
    return std::nullopt;
  }
  return text;
}

void open_thread(const call_ptr& c, const std::string& id, const std::string& scoped) {
  auto body = body_json(*c);
  if (!body)
    return;
  comment_action a;
  a.kind = comment_kind::open;
  auto start = position(*c, *body, "start");
  auto end = start ? position(*c, *body, "end") : std::nullopt;
  auto text = end ? message(*c, *body) : std::nullopt;
  if (!text)
    return;
  a.start = *start;
  a.end = *end;
  a.text = std::move(*text);
  // The positions count in one revision's text: the caller names it, so
  // typing meanwhile moves the range instead of shifting it onto other words.
  auto given = body->find("baseRev");
  if (given == body->end() || !given->is_number_unsigned() || given->get<std::uint64_t>() >= k_current_rev)
    return c->fail(errc::invalid_argument, "baseRev (the revision whose text start and end count in) is required");
  comment_as_caller(c, id, scoped, std::move(a), given->get<std::uint64_t>(), *body);
}

void change_thread(const call_ptr& c, const std::string& id, const std::string& scoped, std::uint64_t thread,
                   comment_kind kind) {
  comment_action a;
  a.kind = kind;
  a.thread = thread;
  // A body is optional but for replies (a DELETE has none).
  auto body = kind == comment_kind::reply || !c->req->body().empty() ? body_json(*c) : std::optional{json::object()};
  if (!body)
    return;
  if (kind == comment_kind::reply) {
    auto text = message(*c, *body);
    if (!text)
      return;
    a.text = std::move(*text);
  }
  comment_as_caller(c, id, scoped, std::move(a), std::nullopt, *body);
}

} // namespace

void route_comments(const call_ptr& c, const std::string& id, std::string_view rest) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  auto verb = c->req->method();
  if (rest == "comments") {
    if (verb == http::verb::get)
      return list_comments(c, id, *scoped);
    if (verb == http::verb::post)
      return open_thread(c, id, *scoped);
  } else {
    auto path = rest.substr(9); // after "comments/"
    auto slash = path.find('/');
    auto number = path.substr(0, slash);
    auto action = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    std::uint64_t thread = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), thread);
    if (ec != std::errc{} || end != number.data() + number.size() || thread == 0)
      return c->fail(errc::invalid_argument, "a comment thread is named by its id, a positive whole number");
    if (action.empty() && verb == http::verb::delete_)
      return change_thread(c, id, *scoped, thread, comment_kind::remove);
    if (verb == http::verb::post) {
      if (action == "replies")
        return change_thread(c, id, *scoped, thread, comment_kind::reply);
      if (action == "resolve")
        return change_thread(c, id, *scoped, thread, comment_kind::resolve);
      if (action == "reopen")
        return change_thread(c, id, *scoped, thread, comment_kind::reopen);
    }
  }
  c->answer(http_util::error(http::status::method_not_allowed, errc::invalid_argument,
                             "no such operation on a document's comments", *c->req));
}

} // namespace stet::api
