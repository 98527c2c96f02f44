// Edits from an application's backend over REST: applied through the
// document's owner like any session's (transformed, the conflict rule,
// durable), answered only once committed. Each call joins the document as
// a short-lived session of this node (so an owner on another node is
// reached the way every session's edits reach it), sends one edit, waits
// for its ack and leaves.
#include "gateway/api_call.hpp"

#include "core/ids.hpp"
#include "core/text_diff.hpp"
#include "core/utf8.hpp"
#include "proto/codec.hpp"

#include <caf/stateful_actor.hpp>

#include <chrono>

namespace stet::api {

namespace {

// Below the HTTP connection's 30 s deadline, so the answer still goes out.
constexpr std::chrono::seconds k_edit_timeout{20};

// Hands the frames a document sends the REST session to its actor.
class forwarding_sink final : public session_sink {
public:
  explicit forwarding_sink(caf::actor to) : to_(std::move(to)) {
  }
  wire::frame_format format() const noexcept override {
    return wire::frame_format::binary;
  }
  void send(std::shared_ptr<const std::string> frame) override {
    caf::anon_send(to_, frame_atom::value, std::string{*frame});
  }

private:
  caf::actor to_;
};

/// What the call wants applied once the document's text is known.
struct edit_plan {
  std::string doc_id;
  std::string scoped_role;
  std::string client_id{};
  std::uint64_t client_seq = 1;
  /// POST .../edits: these ops at base_rev.
  std::optional<operation> ops{};
  /// PUT .../text: the difference from the text at base_rev (or the
  /// current text when there is none) to this one.
  std::optional<std::string> text{};
  std::optional<std::uint64_t> base_rev{};
  /// POST .../comments...: this change to the comment threads (at base_rev,
  /// or the current revision when there is none).
  std::optional<comment_action> comment{};
};

struct editor_state {
  call_ptr call;
  edit_plan plan;
  std::string session_id = "rest-" + auth::random_hex(8);
  document_api document;
  bool joined = false;
  std::optional<std::string> snapshot_text;
  std::uint64_t snapshot_rev = 0;
  bool sent = false;
  bool done = false;
  json conflict;
  static inline const char* name = "rest-editor";
};

using editor = caf::stateful_actor<editor_state>;

void finish(editor* self, const std::optional<error>& err, std::uint64_t rev = 0) {
  auto& st = self->state;
  if (st.done)
    return;
  st.done = true;
  if (st.document)
    self->send(st.document, leave_atom::value, st.session_id);
  if (err) {
    st.call->fail(*err);
  } else {
    json out{{"rev", rev}};
    if (st.plan.comment && st.plan.comment->kind == comment_kind::open)
      out["thread"] = rev;
    if (!st.conflict.is_null())
      out["conflict"] = st.conflict;
    st.call->respond(http::status::ok, out);
  }
  self->quit();
}

void send_edit(editor* self, std::string_view base_text, std::uint64_t base_rev) {
  auto& st = self->state;
  auto& plan = st.plan;
  operation op = plan.ops ? *plan.ops : plan.text ? diff_texts(base_text, *plan.text) : operation{};
  if (op.is_noop() && plan.text)
    return finish(self, std::nullopt, st.snapshot_rev);
  using namespace std::chrono;
  auto now = static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  edit_request req{{plan.client_id, st.call->user.user_id, plan.client_seq, base_rev, std::move(op), plan.comment},
                   st.session_id, now, {}, {}};
  self->send(st.document, edit_atom::value, std::move(req));
}

// Sends the edit once both the join's answer and the snapshot are in.
void maybe_send(editor* self) {
  auto& st = self->state;
  if (!st.joined || !st.snapshot_text || st.sent)
    return;
  st.sent = true;
  auto& plan = st.plan;
  if (plan.ops)
    return send_edit(self, {}, *plan.base_rev);
  if (plan.comment)
    return send_edit(self, {}, plan.base_rev.value_or(st.snapshot_rev));
  if (!plan.base_rev || *plan.base_rev == st.snapshot_rev)
    return send_edit(self, *st.snapshot_text, st.snapshot_rev);
  // Diffed against the text the caller started from, the edit is
  // transformed past everything committed since, as a typist's is.
  self->request(st.call->ctx.registry, k_actor_timeout, get_atom::value, plan.doc_id, *plan.base_rev)
    .then([=](document_view& v) { send_edit(self, v.text, v.rev); },
          [=](caf::error& err) { finish(self, from_caf(err)); });
}

void on_frame(editor* self, const std::string& frame) {
  auto& st = self->state;
  auto m = wire::decode_server(frame, wire::frame_format::binary);
  if (!m)
    return;
  switch (m->body_case()) {
    case wire::ServerMessage::kSnapshot:
      st.snapshot_text = m->snapshot().text();
      st.snapshot_rev = m->snapshot().rev();
      return maybe_send(self);
    case wire::ServerMessage::kAck:
      if (m->ack().client_seq() != st.plan.client_seq)
        return;
      // Rev 0: an older number of a client whose later edit is stored.
      if (m->ack().rev() == 0)
        return finish(self, error{errc::invalid_argument, "clientSeq " + std::to_string(st.plan.client_seq)
                                                            + " is older than this clientId's last edit; count on"});
      finish(self, std::nullopt, m->ack().rev());
      return;
    case wire::ServerMessage::kConflict:
      if (m->conflict().client_seq() == st.plan.client_seq)
        st.conflict = {{"dropped", m->conflict().dropped()}, {"restored", m->conflict().restored()}};
      return;
    case wire::ServerMessage::kError: {
      auto& e = m->error();
      if (e.client_seq() == st.plan.client_seq || e.client_seq() == 0) {
        auto code = parse_errc(e.code());
        finish(self, error{code.value_or(errc::internal), e.message()});
      }
      return;
    }
    default: return;
  }
}

caf::behavior edit_through_owner(editor* self, call_ptr c, edit_plan plan) {
  self->set_exception_handler([self](std::exception_ptr&) -> caf::error {
    finish(self, error{errc::internal, "the edit failed"});
    return caf::make_error(caf::sec::runtime_error);
  });
  auto& st = self->state;
  st.call = std::move(c);
  st.plan = std::move(plan);
  auto& user = st.call->user;
  auto sink = std::make_shared<forwarding_sink>(caf::actor_cast<caf::actor>(self));
  join_request req{st.plan.doc_id,   "lww",   0, false, st.plan.client_id, st.session_id, user.user_id, user.username,
                   sink, caf::actor_cast<session_api>(self), {},
                   std::string{} /* opens only what exists */, st.plan.scoped_role};
  self->request(st.call->ctx.registry, k_edit_timeout, join_atom::value, std::move(req))
    .then(
      [=](joined& j) {
        self->state.document = j.document;
        self->state.joined = true;
        maybe_send(self);
      },
      [=](caf::error& err) { finish(self, from_caf(err)); });
  self->delayed_send(self, k_edit_timeout, expiry_atom::value, std::uint64_t{0});
  return {
    [=](frame_atom, const std::string& frame) { on_frame(self, frame); },
    [=](drop_atom, const std::string& doc) {
      finish(self, error{errc::forbidden, "document " + doc + " was deleted or your access to it revoked"});
    },
    [=](moved_atom, const std::string& doc, std::uint64_t) {
      // A call is short: its caller retries rather than this node re-attaching it.
      finish(self, error{errc::storage_unavailable, "document " + doc + " moved to another node during the call; it may "
                                                    "still apply: resend with the same clientId and clientSeq"});
    },
    [=](expiry_atom, std::uint64_t) {
      finish(self, error{errc::storage_unavailable, "the edit was not committed in time; it may still apply: "
                                                    "GET the text, or resend with the same clientId and clientSeq"});
    },
  };
}

// Checks the caller may edit the document (it exists, and the access list
// or the token's scope allows it), then runs the edit through its owner.
void edit_as_caller(const call_ptr& c, edit_plan plan) {
  if (c->ctx.user_edits && c->user.user_id != 0 && !c->ctx.user_edits->try_take(std::to_string(c->user.user_id))) {
    metrics::get().rate_limited("edits");
    return c->fail(errc::rate_limited, "too many edits per second; resend later");
  }
  auto id = plan.doc_id;
  auto scoped = plan.scoped_role;
  ask_store(
    c, id,
    [c, plan = std::move(plan)](visible_document& d) mutable {
      if (plan.comment ? !auth::can_comment(d.role) : !auth::can_edit(d.role))
        return c->fail(errc::forbidden, std::string{"you may not "} + (plan.comment ? "comment on" : "edit")
                                          + " document " + plan.doc_id);
      c->ctx.system.spawn(edit_through_owner, c, std::move(plan));
    },
    open_atom::value, id, c->user.user_id, scoped);
}

// The client id and sequence number of a REST edit: the caller's, so a
// retry after a lost answer is applied once, or a fresh one.
bool identify(const call_ptr& c, const json& body, edit_plan& plan) {
  auto given = field<std::string>(*c, body, "clientId", "");
  auto seq = given ? field<std::uint64_t>(*c, body, "clientSeq", 1) : std::nullopt;
  if (!seq)
    return false;
  // A client's own id counts its edits: without its number, a second
  // edit would look like a retry of the first and be dropped.
  if (!given->empty() && !body.contains("clientSeq"))
    return c->fail(errc::invalid_argument, "clientSeq is required with clientId (1, 2, 3 ... per clientId)"), false;
  if (given->size() > 128 || !utf8::is_valid(*given)
      || std::any_of(given->begin(), given->end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20; }))
    return c->fail(errc::invalid_argument, "clientId must be at most 128 bytes of text"), false;
  if (*seq == 0 || *seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return c->fail(errc::invalid_argument, "clientSeq must be between 1 and 2^63 - 1"), false;
  auto id = given->empty() ? "rest-" + auth::random_hex(8) : *given;
  // Anonymous callers share one user: their client ids are secrets, and
  // stored under a name derived from them (as a WebSocket session's are).
  plan.client_id = c->user.user_id != 0 ? id : "anon-" + c->ctx.auth.signer->derive(id);
  plan.client_seq = *seq;
  return true;
}

std::optional<std::uint64_t> base_rev_of(const call_ptr& c, const json& body, bool required) {
  auto it = body.find("baseRev");
  if (it == body.end()) {
    if (required)
      c->fail(errc::invalid_argument, "baseRev (the revision the ops apply to) is required");
    return std::nullopt;
  }
  if (!it->is_number_unsigned()) {
    c->fail(errc::invalid_argument, "baseRev must be a revision number");
    return std::nullopt;
  }
  return it->get<std::uint64_t>();
}

} // namespace

void comment_as_caller(const call_ptr& c, const std::string& id, const std::string& scoped, comment_action a,
                       std::optional<std::uint64_t> base_rev, const json& body) {
  if (!c->ctx.comment_changes.try_take(c->user.user_id != 0 ? std::to_string(c->user.user_id)
                                                             : "ip:" + c->client_ip)) {
    metrics::get().rate_limited("comments");
    return c->fail(errc::rate_limited, "too many comment changes per second; try again later");
  }
  edit_plan plan{id, scoped};
  // A retry with the caller's clientId and clientSeq applies once.
  if (!identify(c, body, plan))
    return;
  plan.base_rev = base_rev;
  plan.comment = std::move(a);
  edit_as_caller(c, std::move(plan));
}

void post_edits(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  auto body = scoped ? body_json(*c) : std::nullopt;
  if (!body)
    return;
  edit_plan plan{id, *scoped};
  if (!identify(c, *body, plan))
    return;
  plan.base_rev = base_rev_of(c, *body, true);
  if (!plan.base_rev)
    return;
  // The ops in the WebSocket protocol's JSON form, validated by its codec.
  auto ops = body->find("ops");
  if (ops == body->end() || !ops->is_array())
    return c->fail(errc::invalid_argument, "ops must be an array of components");
  if (ops->size() > c->ctx.limits.max_ops_per_edit)
    return c->fail(errc::too_many_ops, "an edit may have at most " + std::to_string(c->ctx.limits.max_ops_per_edit)
                                         + " components");
  json frame{{"edit", {{"docId", id}, {"clientSeq", 1}, {"ops", *ops}}}};
  auto msg = wire::decode_client(frame.dump(), wire::frame_format::json);
  if (!msg)
    return c->fail(msg.error());
  auto op = wire::to_operation(msg->edit().ops());
  if (!op)
    return c->fail(op.error());
  plan.ops = std::move(*op);
  edit_as_caller(c, std::move(plan));
}

void put_text(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  auto body = scoped ? body_json(*c) : std::nullopt;
  if (!body)
    return;
  edit_plan plan{id, *scoped};
  auto it = body->find("text");
  if (it == body->end() || !it->is_string())
    return c->fail(errc::invalid_argument, "text (the document's new text) must be a string");
  auto text = std::optional<std::string>{it->get<std::string>()};
  if (!identify(c, *body, plan))
    return;
  if (auto st = utf8::check_text(*text, "text"); !st)
    return c->fail(st.error());
  if (body->contains("baseRev") && !(plan.base_rev = base_rev_of(c, *body, false)))
    return;
  plan.text = std::move(*text);
  edit_as_caller(c, std::move(plan));
}

void post_restore(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  auto body = scoped ? body_json(*c) : std::nullopt;
  if (!body)
    return;
  bool by_rev = body->contains("rev");
  if (by_rev == body->contains("version"))
    return c->fail(errc::invalid_argument, "give rev (a revision) or version (a named version's id) to restore");
  auto& given = (*body)[by_rev ? "rev" : "version"];
  if (!given.is_number_unsigned() || given.get<std::uint64_t>() >= k_current_rev) // null: never "revision 0" by accident
    return c->fail(errc::invalid_argument, std::string{by_rev ? "rev" : "version"} + " must be a whole number");
  auto which = std::optional{given.get<std::uint64_t>()};
  if (!by_rev && *which > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return c->fail(errc::unknown_document, "document " + id + " has no version " + std::to_string(*which));
  edit_plan plan{id, *scoped};
  if (!identify(c, *body, plan))
    return;
  // Editors only, and checked before any old text is read.
  ask_store(
    c, id,
    [c, plan = std::move(plan), by_rev, which = *which](visible_document& d) {
      if (!auth::can_edit(d.role))
        return c->fail(errc::forbidden, "you may not edit document " + plan.doc_id);
      // The old text becomes a new edit: the difference from the current
      // text, transformed past anything committed meanwhile.
      auto apply = [c, plan](std::string text) mutable {
        plan.text = std::move(text);
        edit_as_caller(c, std::move(plan));
      };
      if (by_rev)
        return ask(
          c, c->ctx.registry, [apply](document_view& v) mutable { apply(std::move(v.text)); }, {}, get_atom::value,
          plan.doc_id, which);
      ask_store(
        c, plan.doc_id, [apply](storage::version_row& v) mutable { apply(std::move(v.content)); },
        version_atom::value, plan.doc_id, c->user.user_id, plan.scoped_role, static_cast<std::int64_t>(which));
    },
    open_atom::value, id, c->user.user_id, *scoped);
}

void get_text(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  ask_store(
    c, id,
    [c, id](visible_document&) {
      ask(
        c, c->ctx.registry,
        [c](document_view& v) {
          auto r = http_util::json(http::status::ok, json::object(), *c->req);
          r.set(http::field::content_type, "text/plain; charset=utf-8");
          r.set("X-Stet-Rev", std::to_string(v.rev));
          r.body() = v.text;
          r.prepare_payload();
          c->answer(std::move(r));
        },
        {}, get_atom::value, id, k_current_rev);
    },
    open_atom::value, id, c->user.user_id, *scoped);
}

} // namespace stet::api
