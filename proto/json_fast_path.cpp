#include "proto/json_fast_path.hpp"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <limits>

namespace stet::wire::json_fast_path {

namespace {

using json = nlohmann::json;

// A protobuf JSON integer: a number or a string of digits.
std::optional<std::uint64_t> to_uint(const json& v, std::uint64_t max) {
  std::uint64_t n;
  if (v.is_number_unsigned()) {
    n = v.get<std::uint64_t>();
  } else if (v.is_string()) {
    auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 20)
      return std::nullopt;
    n = 0;
    for (char c : s) {
      if (c < '0' || c > '9')
        return std::nullopt;
      if (n > (std::numeric_limits<std::uint64_t>::max() - static_cast<unsigned>(c - '0')) / 10)
        return std::nullopt;
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
  } else {
    return std::nullopt;
  }
  if (n > max)
    return std::nullopt;
  return n;
}

void append_uint(std::string& out, std::uint64_t n) {
  out += '"';
  out += std::to_string(n);
  out += '"';
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

} // namespace

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

std::optional<ClientMessage> parse_edit(std::string_view frame) {
  auto doc = json::parse(frame, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || doc.size() != 1 || !doc.contains("edit"))
    return std::nullopt;
  auto& e = doc["edit"];
  if (!e.is_object())
    return std::nullopt;
  ClientMessage m;
  auto* edit = m.mutable_edit();
  for (auto& [key, value] : e.items()) {
    if (key == "docId") {
      if (!value.is_string())
        return std::nullopt;
      edit->set_doc_id(value.get<std::string>());
    } else if (key == "baseRev" || key == "clientSeq" || key == "clientTs") {
      auto n = to_uint(value, std::numeric_limits<std::uint64_t>::max());
      if (!n)
        return std::nullopt;
      if (key == "baseRev")
        edit->set_base_rev(*n);
      else if (key == "clientSeq")
        edit->set_client_seq(*n);
      else
        edit->set_client_ts(*n);
    } else if (key == "ops") {
      if (!value.is_array())
        return std::nullopt;
      for (auto& c : value) {
        if (!c.is_object() || c.size() != 1)
          return std::nullopt;
        auto only = c.begin(); // a json iterator: key() refers into the object itself
        const std::string& kind = only.key();
        const json& v = only.value();
        auto* out = edit->add_ops();
        if (kind == "insert") {
          if (!v.is_string())
            return std::nullopt;
          out->set_insert(v.get<std::string>());
        } else if (kind == "retain" || kind == "delete") {
          auto n = to_uint(v, std::numeric_limits<std::uint32_t>::max());
          if (!n)
            return std::nullopt;
          if (kind == "retain")
            out->set_retain(static_cast<std::uint32_t>(*n));
          else
            out->set_delete_(static_cast<std::uint32_t>(*n));
        } else {
          return std::nullopt;
        }
      }
    } else {
      return std::nullopt; // other spellings and unknown fields: protobuf decides
    }
  }
  return m;
}

bool print(const ServerMessage& msg, std::string& out) {
  if (msg.has_snapshot() && msg.snapshot().text().size() > 4096) {
    // A snapshot's text can be megabytes: protobuf prints the rest, the text
    // is spliced in (measured: joining a 1 MB document spent most of its
    // time in protobuf's escaping).
    auto& snap = msg.snapshot();
    ServerMessage rest; // every field but the text (copying it would copy megabytes)
    auto* r = rest.mutable_snapshot();
    r->set_doc_id(snap.doc_id());
    r->set_rev(snap.rev());
    if (snap.has_policy())
      r->set_policy(snap.policy());
    *r->mutable_participants() = snap.participants();
    if (snap.has_resumed())
      r->set_resumed(snap.resumed());
    if (!google::protobuf::util::MessageToJsonString(rest, &out).ok())
      return false;
    out.resize(out.size() - 2); // {"snapshot":{"docId":...  without its closing }}
    out.reserve(out.size() + snap.text().size() + snap.text().size() / 16 + 16);
    out += ",\"text\":\"";
    append_escaped(out, snap.text());
    out += "\"}}";
    return true;
  }
  if (msg.has_ack()) {
    auto& a = msg.ack();
    out = "{\"ack\":{";
    const char* sep = "";
    if (a.has_doc_id())
      out += "\"docId\":", append_string(out, a.doc_id()), sep = ",";
    if (a.has_client_seq())
      out += sep, out += "\"clientSeq\":", append_uint(out, a.client_seq()), sep = ",";
    if (a.has_rev())
      out += sep, out += "\"rev\":", append_uint(out, a.rev()), sep = ",";
    if (a.has_ts())
      out += sep, out += "\"ts\":", append_uint(out, a.ts());
    out += "}}";
    return true;
  }
  if (msg.has_applied()) {
    auto& a = msg.applied();
    out = "{\"applied\":{\"docId\":";
    append_string(out, a.doc_id());
    out += ",\"rev\":";
    append_uint(out, a.rev());
    out += ",\"ops\":[";
    for (int i = 0; i < a.ops_size(); ++i) {
      auto& c = a.ops(i);
      out += i ? ",{" : "{";
      if (c.has_retain()) {
        out += "\"retain\":" + std::to_string(c.retain());
      } else if (c.has_insert()) {
        out += "\"insert\":";
        append_string(out, c.insert());
      } else {
        out += "\"delete\":" + std::to_string(c.delete_());
      }
      if (c.has_deleted()) {
        out += ",\"deleted\":";
        append_string(out, c.deleted());
      }
      out += '}';
    }
    out += ']';
    if (a.has_author())
      out += ",\"author\":", append_string(out, a.author());
    if (a.has_ts())
      out += ",\"ts\":", append_uint(out, a.ts());
    if (a.has_client_seq())
      out += ",\"clientSeq\":", append_uint(out, a.client_seq());
    out += "}}";
    return a.has_doc_id() && a.has_rev();
  }
  return false;
}

} // namespace stet::wire::json_fast_path
