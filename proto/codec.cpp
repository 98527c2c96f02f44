#include "proto/codec.hpp"

#include "core/utf8.hpp"
#include "proto/comment_codec.hpp"
#include "proto/json_fast_path.hpp"

#include <google/protobuf/util/json_util.h>

#include <atomic>

namespace stet::wire {

namespace {

namespace pbu = google::protobuf::util;

// proto2 does not check string fields, so every text a client can send is
// checked here, naming the field.
status check_utf8(std::string_view value, const char* field) {
  if (utf8::is_valid(value))
    return ok();
  return stet::make_error(errc::invalid_utf8, std::string{field} + " is not valid UTF-8");
}

status check_strings(const ClientMessage& m) {
  switch (m.body_case()) {
    case ClientMessage::kHello: {
      if (auto s = check_utf8(m.hello().client_id(), "hello.clientId"); !s)
        return s;
      return check_utf8(m.hello().token(), "hello.token");
    }
    case ClientMessage::kJoin: {
      if (auto s = check_utf8(m.join().doc_id(), "join.docId"); !s)
        return s;
      return check_utf8(m.join().policy(), "join.policy");
    }
    // Inserted text is checked by to_operation, where the error can name
    // the edit's clientSeq.
    case ClientMessage::kEdit: return check_utf8(m.edit().doc_id(), "edit.docId");
    case ClientMessage::kPresence: return check_utf8(m.presence().doc_id(), "presence.docId");
    case ClientMessage::kLeave: return check_utf8(m.leave().doc_id(), "leave.docId");
    default: return ok();
  }
}

template <class Message>
result<Message> parse(std::string_view frame, frame_format format) {
  Message m;
  if (format == frame_format::binary) {
    if (!m.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
      return stet::make_error(errc::bad_message, "binary frame is not a valid protobuf " + m.GetTypeName());
    return m;
  }
  if (!utf8::is_valid(frame))
    return stet::make_error(errc::invalid_utf8, "text frame is not valid UTF-8");
  pbu::JsonParseOptions strict;
  auto st = pbu::JsonStringToMessage(frame, &m, strict);
  if (st.ok())
    return m;
  std::string why{st.message()};
  if (why.find("nicode") != std::string::npos || why.find("surrogate") != std::string::npos
      || why.find("UTF-8") != std::string::npos)
    return stet::make_error(errc::invalid_utf8, "JSON text is not valid Unicode: " + why);
  // A frame that only fails for its unknown top-level key names a message
  // type we do not have.
  Message lenient;
  pbu::JsonParseOptions ignore;
  ignore.ignore_unknown_fields = true;
  if (pbu::JsonStringToMessage(frame, &lenient, ignore).ok() && lenient.body_case() == 0)
    return stet::make_error(errc::unknown_message, "unknown message type: " + why);
  return stet::make_error(errc::bad_message, "malformed JSON message: " + why);
}

template <class Message>
std::string encode_any(const Message& msg, frame_format format) {
  std::string out;
  if (format == frame_format::binary) {
    msg.SerializeToString(&out);
  } else {
    pbu::JsonPrintOptions opts;
    opts.preserve_proto_field_names = false;
    (void) pbu::MessageToJsonString(msg, &out, opts);
  }
  return out;
}

} // namespace

result<ClientMessage> decode_client(std::string_view frame, frame_format format) {
  if (format == frame_format::json && utf8::is_valid(frame))
    if (auto fast = json_fast_path::parse(frame); fast && fast->body_case() != ClientMessage::BODY_NOT_SET) {
      if (auto s = check_strings(*fast); !s)
        return s.error();
      return std::move(*fast);
    }
  auto m = parse<ClientMessage>(frame, format);
  if (!m)
    return m;
  if (m->body_case() == ClientMessage::BODY_NOT_SET)
    return stet::make_error(errc::unknown_message,
                            "expected exactly one of hello, join, edit, presence, leave, ping");
  if (auto s = check_strings(*m); !s)
    return s.error();
  return m;
}

result<ServerMessage> decode_server(std::string_view frame, frame_format format) {
  return parse<ServerMessage>(frame, format);
}

std::string encode(const ServerMessage& msg, frame_format format) {
  if (format == frame_format::json) {
    std::string out;
    if (json_fast_path::print(msg, out))
      return out;
  }
  return encode_any(msg, format);
}

std::string encode(const ClientMessage& msg, frame_format format) {
  return encode_any(msg, format);
}

std::shared_ptr<const std::string> encoded_message::get(frame_format format) const {
  auto& slot = format == frame_format::json ? json_ : binary_;
  auto cached = std::atomic_load(&slot);
  if (!cached) {
    // Two threads may both encode; both results are identical, one wins.
    cached = std::make_shared<const std::string>(encode(msg_, format));
    std::atomic_store(&slot, cached);
  }
  return cached;
}

result<operation> to_operation(const google::protobuf::RepeatedPtrField<Component>& ops) {
  operation op;
  for (int i = 0; i < ops.size(); ++i) {
    auto& c = ops[i];
    auto where = "ops[" + std::to_string(i) + "]";
    switch (c.kind_case()) {
      case Component::kRetain:
        if (c.retain() == 0)
          return stet::make_error(errc::invalid_argument, where + ".retain must be at least 1");
        op.retain(c.retain());
        break;
      case Component::kInsert:
        if (c.insert().empty())
          return stet::make_error(errc::invalid_argument, where + ".insert must not be empty");
        if (auto st = utf8::check_text(c.insert(), where + ".insert"); !st)
          return st.error();
        op.insert(c.insert());
        break;
      case Component::kDelete:
        if (c.delete_() == 0)
          return stet::make_error(errc::invalid_argument, where + ".delete must be at least 1");
        op.erase(c.delete_());
        break;
      default:
        return stet::make_error(errc::invalid_argument, where + " needs one of retain, insert, delete");
    }
  }
  return op;
}

void to_wire(const operation& op, google::protobuf::RepeatedPtrField<Component>* out, bool with_deleted) {
  for (auto& c : op.components()) {
    auto* w = out->Add();
    switch (c.kind) {
      case component_kind::retain: w->set_retain(static_cast<std::uint32_t>(c.length)); break;
      case component_kind::insert: w->set_insert(c.text); break;
      case component_kind::erase:
        w->set_delete_(static_cast<std::uint32_t>(c.length));
        if (with_deleted && !c.text.empty())
          w->set_deleted(c.text);
        break;
    }
  }
}

std::string encode_stored(const operation& op, const comment_action* comment) {
  StoredOperation stored;
  to_wire(op, stored.mutable_ops(), true);
  if (comment)
    to_wire(*comment, stored.mutable_comment());
  return stored.SerializeAsString();
}

result<operation> decode_stored(std::string_view bytes, std::optional<comment_action>* comment) {
  StoredOperation stored;
  if (!stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return stet::make_error(errc::bad_message, "corrupt operation in the op log");
  if (comment && stored.has_comment()) {
    auto a = to_comment(stored.comment());
    if (!a)
      return stet::make_error(errc::bad_message, "corrupt comment in the op log: " + a.error().message);
    *comment = std::move(*a);
  }
  operation op;
  for (auto& c : stored.ops()) {
    switch (c.kind_case()) {
      case Component::kRetain: op.retain(c.retain()); break;
      case Component::kInsert: op.insert(c.insert()); break;
      case Component::kDelete: op.erase(c.delete_(), c.deleted()); break;
      default: return stet::make_error(errc::bad_message, "corrupt component in the op log");
    }
  }
  return op;
}

result<std::vector<bus_item>> decode_bus(std::string_view payload) {
  std::vector<bus_item> out(1);
  if (!out[0].envelope.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return stet::make_error(errc::bad_message, "bus payload is not a BusEnvelope");
  if (!out[0].envelope.has_batch()) {
    out[0].bytes.assign(payload);
    return out;
  }
  auto batch = std::move(*out[0].envelope.mutable_batch());
  out.clear();
  out.reserve(static_cast<std::size_t>(batch.envelopes_size()));
  for (auto& inner : *batch.mutable_envelopes()) {
    bus_item item;
    if (!item.envelope.ParseFromString(inner))
      return stet::make_error(errc::bad_message, "an envelope in a bus batch is not a BusEnvelope");
    if (item.envelope.has_batch())
      return stet::make_error(errc::invalid_argument, "a bus batch holds another batch");
    item.bytes = std::move(inner);
    out.push_back(std::move(item));
  }
  return out;
}

ServerMessage make_error(const stet::error& err, std::string_view doc_id, std::uint64_t client_seq) {
  ServerMessage m;
  auto* e = m.mutable_error();
  e->set_code(std::string{to_string(err.code)});
  e->set_message(err.message);
  if (!doc_id.empty())
    e->set_doc_id(std::string{doc_id});
  if (client_seq != 0)
    e->set_client_seq(client_seq);
  return m;
}

} // namespace stet::wire
