#include "proto/json_fast_path.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
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

namespace {

namespace pb = google::protobuf;

bool read_message(const json& obj, pb::Message& m);

// One value for field `f` (appended when repeated). False for anything
// outside the plain spelling; protobuf then decides, and words the error.
bool read_value(const json& v, pb::Message& m, const pb::Reflection& r, const pb::FieldDescriptor* f) {
  using T = pb::FieldDescriptor;
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case T::CPPTYPE_STRING:
      if (f->type() == T::TYPE_BYTES || !v.is_string())
        return false;
      if (rep)
        r.AddString(&m, f, v.get<std::string>());
      else
        r.SetString(&m, f, v.get<std::string>());
      return true;
    case T::CPPTYPE_UINT64: {
      auto n = to_uint(v, std::numeric_limits<std::uint64_t>::max());
      if (!n)
        return false;
      rep ? r.AddUInt64(&m, f, *n) : r.SetUInt64(&m, f, *n);
      return true;
    }
    case T::CPPTYPE_UINT32: {
      auto n = to_uint(v, std::numeric_limits<std::uint32_t>::max());
      if (!n)
        return false;
      auto n32 = static_cast<std::uint32_t>(*n);
      rep ? r.AddUInt32(&m, f, n32) : r.SetUInt32(&m, f, n32);
      return true;
    }
    case T::CPPTYPE_BOOL:
      if (!v.is_boolean())
        return false;
      rep ? r.AddBool(&m, f, v.get<bool>()) : r.SetBool(&m, f, v.get<bool>());
      return true;
    case T::CPPTYPE_MESSAGE:
      return read_message(v, rep ? *r.AddMessage(&m, f) : *r.MutableMessage(&m, f));
    default: return false; // signed, floating, enum: not on the client's side of the wire
  }
}

bool read_message(const json& obj, pb::Message& m) {
  if (!obj.is_object())
    return false;
  auto* d = m.GetDescriptor();
  auto* r = m.GetReflection();
  for (auto& [key, value] : obj.items()) {
    auto* f = d->FindFieldByCamelcaseName(key);
    // Only the camelCase spelling (nlohmann already kept one value per
    // key), and one member per oneof.
    if (!f || f->json_name() != key || f->is_map())
      return false;
    if (auto* o = f->containing_oneof(); o && r->HasOneof(m, o))
      return false;
    if (!f->is_repeated()) {
      if (!read_value(value, m, *r, f))
        return false;
      continue;
    }
    if (!value.is_array())
      return false;
    for (auto& item : value)
      if (!read_value(item, m, *r, f))
        return false;
  }
  return true;
}

// Edits are most of what clients send, so they are read by hand: through
// reflection they cost ~3% of the server's CPU at ~100k edits/s.
std::optional<ClientMessage> read_edit(const json& e) {
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

} // namespace

std::optional<ClientMessage> parse(std::string_view frame) {
  // nlohmann stops at a NUL byte as if the text ended there; protobuf
  // (rightly) rejects what follows, so such frames are left to it.
  if (frame.find('\0') != std::string_view::npos)
    return std::nullopt;
  auto doc = json::parse(frame, nullptr, false);
  if (doc.is_discarded())
    return std::nullopt;
  if (doc.is_object() && doc.size() == 1)
    if (auto e = doc.find("edit"); e != doc.end())
      return read_edit(*e);
  ClientMessage m;
  if (!read_message(doc, m))
    return std::nullopt;
  return m;
}

namespace {

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

void append_number(std::string& out, std::int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

bool append_message(const pb::Message& m, std::string& out);

// One value of `f` (element `i` when repeated) in protobuf's JSON mapping:
// 64-bit integers as strings, 32-bit ones as numbers. Kinds the wire
// messages do not use (bytes, floats, enums, maps) return false.
bool append_value(const pb::Message& m, const pb::Reflection& r, const pb::FieldDescriptor* f, int i,
                  std::string& out) {
  using T = pb::FieldDescriptor;
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case T::CPPTYPE_STRING: {
      if (f->type() == T::TYPE_BYTES)
        return false;
      std::string scratch;
      auto& v = rep ? r.GetRepeatedStringReference(m, f, i, &scratch) : r.GetStringReference(m, f, &scratch);
      out += '"';
      append_escaped(out, v);
      out += '"';
      return true;
    }
    case T::CPPTYPE_UINT64:
      out += '"';
      append_number(out, rep ? r.GetRepeatedUInt64(m, f, i) : r.GetUInt64(m, f));
      out += '"';
      return true;
    case T::CPPTYPE_INT64:
      out += '"';
      append_number(out, rep ? r.GetRepeatedInt64(m, f, i) : r.GetInt64(m, f));
      out += '"';
      return true;
    case T::CPPTYPE_UINT32:
      append_number(out, std::uint64_t{rep ? r.GetRepeatedUInt32(m, f, i) : r.GetUInt32(m, f)});
      return true;
    case T::CPPTYPE_INT32:
      append_number(out, std::int64_t{rep ? r.GetRepeatedInt32(m, f, i) : r.GetInt32(m, f)});
      return true;
    case T::CPPTYPE_BOOL:
      out += (rep ? r.GetRepeatedBool(m, f, i) : r.GetBool(m, f)) ? "true" : "false";
      return true;
    case T::CPPTYPE_MESSAGE:
      return append_message(rep ? r.GetRepeatedMessage(m, f, i) : r.GetMessage(m, f), out);
    default: return false;
  }
}

bool append_message(const pb::Message& m, std::string& out) {
  auto* d = m.GetDescriptor();
  auto* r = m.GetReflection();
  out += '{';
  bool first = true;
  for (int i = 0; i < d->field_count(); ++i) {
    auto* f = d->field(i);
    if (f->is_map())
      return false;
    int n = f->is_repeated() ? r->FieldSize(m, f) : 0;
    if (f->is_repeated() ? n == 0 : !r->HasField(m, f))
      continue;
    if (!first)
      out += ',';
    first = false;
    out += '"';
    out += f->json_name();
    out += "\":";
    if (!f->is_repeated()) {
      if (!append_value(m, *r, f, -1, out))
        return false;
      continue;
    }
    out += '[';
    for (int j = 0; j < n; ++j) {
      if (j)
        out += ',';
      if (!append_value(m, *r, f, j, out))
        return false;
    }
    out += ']';
  }
  out += '}';
  return true;
}

void append_quoted(std::string& out, std::uint64_t n) {
  out += '"';
  append_number(out, n);
  out += '"';
}

void append_string(std::string& out, std::string_view v) {
  out += '"';
  append_escaped(out, v);
  out += '"';
}

// Acks and applied edits go out once each per edit, so they are printed by
// hand: walking their descriptors cost ~4% of the server's CPU replaying
// automerge-paper at ~100k edits/s. The test holds them to the same output.
void print_ack(const Ack& a, std::string& out) {
  out = "{\"ack\":{";
  const char* sep = "";
  if (a.has_doc_id())
    out += "\"docId\":", append_string(out, a.doc_id()), sep = ",";
  if (a.has_client_seq())
    out += sep, out += "\"clientSeq\":", append_quoted(out, a.client_seq()), sep = ",";
  if (a.has_rev())
    out += sep, out += "\"rev\":", append_quoted(out, a.rev()), sep = ",";
  if (a.has_ts())
    out += sep, out += "\"ts\":", append_quoted(out, a.ts());
  out += "}}";
}

void print_applied(const Applied& a, std::string& out) {
  out = "{\"applied\":{\"docId\":";
  append_string(out, a.doc_id());
  out += ",\"rev\":";
  append_quoted(out, a.rev());
  if (a.ops_size() > 0) {
    out += ",\"ops\":[";
    for (int i = 0; i < a.ops_size(); ++i) {
      auto& c = a.ops(i);
      out += i ? ",{" : "{";
      if (c.has_retain())
        out += "\"retain\":", append_number(out, std::uint64_t{c.retain()});
      else if (c.has_insert())
        out += "\"insert\":", append_string(out, c.insert());
      else if (c.has_delete_())
        out += "\"delete\":", append_number(out, std::uint64_t{c.delete_()});
      if (c.has_deleted())
        out += c.kind_case() == Component::KIND_NOT_SET ? "" : ",", out += "\"deleted\":", append_string(out, c.deleted());
      out += '}';
    }
    out += ']';
  }
  if (a.has_author())
    out += ",\"author\":", append_string(out, a.author());
  if (a.has_ts())
    out += ",\"ts\":", append_quoted(out, a.ts());
  if (a.has_client_seq())
    out += ",\"clientSeq\":", append_quoted(out, a.client_seq());
  if (a.has_user_id())
    out += ",\"userId\":\"", out += std::to_string(a.user_id()), out += '"';
  if (a.has_comment())
    out += ",\"comment\":", (void) append_message(a.comment(), out); // strings and numbers only: never false
  out += "}}";
}

} // namespace

bool print(const ServerMessage& msg, std::string& out) {
  if (msg.has_ack()) {
    print_ack(msg.ack(), out);
    return true;
  }
  if (msg.has_applied() && msg.applied().has_doc_id() && msg.applied().has_rev()) {
    print_applied(msg.applied(), out);
    return true;
  }
  out.clear();
  if (msg.has_snapshot()) // megabytes, maybe: grow once
    out.reserve(msg.snapshot().text().size() + msg.snapshot().text().size() / 16 + 256);
  return append_message(msg, out);
}

} // namespace stet::wire::json_fast_path
