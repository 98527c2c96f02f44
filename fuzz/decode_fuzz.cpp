// libFuzzer target: the client message decoder and everything that
// validates a decoded edit before it reaches a document.
// Input: first byte picks the frame format, the rest is the frame.
#include "core/operation.hpp"
#include "core/text_buffer.hpp"
#include "proto/codec.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  auto format = data[0] & 1 ? stet::wire::frame_format::binary : stet::wire::frame_format::json;
  std::string_view frame{reinterpret_cast<const char*>(data + 1), size - 1};
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
