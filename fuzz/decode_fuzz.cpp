// libFuzzer target: the client message decoder and everything that
// validates a decoded edit before it reaches a document.
// Input: first byte picks the frame format, the rest is the frame.
#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "core/utf8.hpp"
#include "proto/codec.hpp"
#include "proto/json_fast_path.hpp"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

#include <cstdint>
#include <cstdlib>

namespace {

// Whether some JSON object in `frame` has a key twice.
bool repeats_a_key(std::string_view frame) {
  using json = nlohmann::json;
  std::vector<std::vector<std::string>> open;
  bool repeated = false;
  auto note = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start)
      open.emplace_back();
    else if (event == json::parse_event_t::object_end)
      open.pop_back();
    else if (event == json::parse_event_t::key) {
      auto& key = parsed.get_ref<const std::string&>();
      repeated = repeated || std::find(open.back().begin(), open.back().end(), key) != open.back().end();
      open.back().push_back(key);
    }
    return true;
  };
  (void) json::parse(frame, note, false);
  return repeated;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  auto format = data[0] & 1 ? stet::wire::frame_format::binary : stet::wire::frame_format::json;
  std::string_view frame{reinterpret_cast<const char*>(data + 1), size - 1};
  // Our JSON reader must read exactly what protobuf's strict parser reads
  // (protobuf also refuses repeated keys, where ours takes the last).
  if (format == stet::wire::frame_format::json && stet::utf8::is_valid(frame))
    if (auto fast = stet::wire::json_fast_path::parse(frame)) {
      stet::wire::ClientMessage theirs;
      bool ok = google::protobuf::util::JsonStringToMessage(frame, &theirs, {}).ok();
      if (ok ? theirs.SerializeAsString() != fast->SerializeAsString() : !repeats_a_key(frame))
        std::abort();
    }
  auto msg = stet::wire::decode_client(frame, format);
  if (!msg) {
    if (msg.error().message.empty())
      std::abort(); // every rejection must say why
    return 0;
  }
  if (msg->has_edit()) {
    auto op = stet::wire::to_operation(msg->edit().ops());
    if (!op)
      return 0;
    stet::text_buffer doc{"fuzz \xC3\xA9\xF0\x9F\x98\x80 document"};
    auto before = doc.str();
    auto copy = *op;
    auto r = stet::apply(doc, copy);
    if (!r && doc.str() != before)
      std::abort(); // a rejected edit must change nothing
  }
  // Whatever was accepted encodes back in both formats.
  (void) stet::wire::encode(*msg, stet::wire::frame_format::json);
  (void) stet::wire::encode(*msg, stet::wire::frame_format::binary);
  return 0;
}
