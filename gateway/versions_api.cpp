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

/// Control characters (C0, DEL, C1), line separators, and the invisible
/// and bidirectional formatting characters that would let a name show as
/// another in the list.
bool shown_deceptively(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || (cp >= 0x200b && cp <= 0x200f)
         || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff
         || (cp >= 0xe0000 && cp <= 0xe007f);
}

/// A version's name: 1-200 bytes of UTF-8 without control characters.
bool valid_version_name(const std::string& name) {
  if (name.empty() || name.size() > k_max_version_name_bytes || !utf8::is_valid(name))
    return false;
  for (std::size_t i = 0; i < name.size();) { // valid UTF-8: lead byte, then continuation bytes
    auto lead = static_cast<unsigned char>(name[i]);
    int extra = lead < 0x80 ? 0 : lead < 0xe0 ? 1 : lead < 0xf0 ? 2 : 3;
    char32_t cp = extra == 0 ? lead : lead & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(name[i + static_cast<std::size_t>(k)]) & 0x3f);
    if (shown_deceptively(cp))
      return false;
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

/// One naming or deleting of the caller's (per user; per address for
/// anonymous callers); false after answering 429. Versions are whole
/// copies of the text: a burst is refused like edits.
bool take_version_budget(const call_ptr& c, const std::string& what) {
  if (c->ctx.version_names.try_take(c->user.user_id != 0 ? std::to_string(c->user.user_id) : "ip:" + c->client_ip))
    return true;
  metrics::get().rate_limited("versions");
  c->fail(errc::rate_limited, "too many versions " + what + " per second; try again later");
  return false;
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
  auto at = body->find("rev");
  if (at != body->end() && (!at->is_number_unsigned() || at->get<std::uint64_t>() >= k_current_rev))
    return c->fail(errc::invalid_argument, "rev must be a revision number (or absent: the current one)");
  std::optional<std::uint64_t> rev;
  if (at != body->end())
    rev = at->get<std::uint64_t>();
  if (!take_version_budget(c, "named"))
    return;
  // Who may name versions is checked before the text is read, and again
  // (with the storing) by the storage actor.
  ask_store(
    c, id,
    [c, id, name = *name, rev, scoped = *scoped](visible_document& d) {
      if (!auth::can_edit(d.role))
        return c->fail(errc::forbidden, "you may not name versions of document " + id);
      // Without a rev: the primary's committed one (a replica may lag).
      auto wanted = rev.value_or(static_cast<std::uint64_t>(d.row.rev));
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
        {}, get_atom::value, id, wanted);
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

void delete_version(const call_ptr& c, const std::string& id, std::int64_t version) {
  auto scoped = scoped_role(c, id);
  if (!scoped)
    return;
  if (!take_version_budget(c, "deleted"))
    return;
  ask_store(
    c, id, [c](caf::ok_atom) { c->respond(http::status::no_content, {}); }, delete_atom::value, id, c->user.user_id,
    *scoped, version);
}

} // namespace stet::api
