// Named versions over REST: a name for the text of one revision, kept in
// storage whatever compaction does to the op log; listed, read, and
// restored (gateway/edits_api.cpp) as a new edit.
#include "gateway/api_call.hpp"

#include "core/utf8.hpp"

#include <chrono>

namespace stet::api {

namespace {

constexpr std::size_t k_max_version_name_bytes = 200;

json to_json(const storage::version_row& v) {
  json out{{"id", v.id}, {"name", v.name}, {"rev", v.rev}, {"author", v.author}, {"createdAt", v.created_at}};
  return out;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// A version's name: 1-200 bytes of UTF-8 without control characters.
bool valid_version_name(const std::string& name) {
  return !name.empty() && name.size() <= k_max_version_name_bytes && utf8::is_valid(name)
         && std::none_of(name.begin(), name.end(), [](char ch) {
              auto u = static_cast<unsigned char>(ch);
              return u < 0x20 || u == 0x7f;
            });
}

} // namespace

void post_version(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  auto body = scoped ? body_json(*c) : std::nullopt;
  if (!body)
    return;
  auto name = field<std::string>(*c, *body, "name");
  if (!name)
    return;
  if (!valid_version_name(*name))
    return c->fail(errc::invalid_argument, "name must be 1-200 bytes of text without control characters");
  auto rev = body->contains("rev") ? field<std::uint64_t>(*c, *body, "rev") : std::optional{k_current_rev};
  if (!rev)
    return;
  // Who may name versions is checked before the text is read, and again
  // (with the storing) by the storage actor.
  ask_store(
    c, id,
    [c, id, name = *name, rev = *rev, scoped = *scoped](visible_document& d) {
      if (!auth::can_edit(d.role))
        return c->fail(errc::forbidden, "you may not name versions of document " + id);
      ask(
        c, c->ctx.registry,
        [c, id, name, scoped](document_view& v) {
          storage::version_row row{0, id, name, v.rev, c->user.user_id, c->user.username, now_ms(), std::move(v.text)};
          ask_store(
            c, id,
            [c](storage::version_row& stored) {
              stored.author = c->user.username;
              c->respond(http::status::created, to_json(stored));
            },
            version_atom::value, std::move(row), scoped);
        },
        {}, get_atom::value, id, rev);
    },
    open_atom::value, id, c->user.user_id, *scoped);
}

void list_versions(const call_ptr& c, const std::string& id) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  ask_store(
    c, id,
    [c, id](std::vector<storage::version_row>& versions) {
      json out = json::array();
      for (auto& v : versions)
        out.push_back(to_json(v));
      c->respond(http::status::ok, {{"id", id}, {"versions", out}});
    },
    versions_atom::value, id, c->user.user_id, *scoped);
}

void get_version(const call_ptr& c, const std::string& id, std::int64_t version) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  ask_store(
    c, id,
    [c](storage::version_row& v) {
      auto out = to_json(v);
      out["text"] = v.content;
      c->respond(http::status::ok, out);
    },
    version_atom::value, id, c->user.user_id, *scoped, version);
}

} // namespace stet::api
