// libFuzzer target: what a node does with a payload from Redis before any
// actor sees it. The bytes go through the seal (almost always refused),
// and, as if they had opened, through the envelope decoder and the checks
// each envelope's body gets (edit ops, relayed server messages). A sealed
// copy of the input must open to the input, byte-exact.
#include "auth/bus_seal.hpp"
#include "proto/codec.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

const stet::auth::bus_seal k_seal{"fuzzing-cluster-key-of-at-least-32-bytes"};
constexpr std::int64_t k_now = 1'800'000'000'000;

void check_envelope(const stet::wire::BusEnvelope& env) {
  if (env.has_edit())
    (void) stet::wire::to_operation(env.edit().ops());
  stet::wire::ServerMessage m;
  if (env.has_frame())
    (void) m.ParseFromString(env.frame().message());
  for (auto& bytes : env.frames().messages())
    (void) m.ParseFromString(bytes);
  if (env.has_broadcast())
    (void) m.ParseFromString(env.broadcast().applied());
  for (auto& b : env.broadcasts().edits())
    (void) m.ParseFromString(b.applied());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input{reinterpret_cast<const char*>(data), size};
  (void) k_seal.open("stet:node:n1", input, k_now);

  auto items = stet::wire::decode_bus(input);
  if (items) {
    for (auto& item : *items) {
      if (item.envelope.has_batch())
        std::abort(); // nested batches never get past the decoder
      check_envelope(item.envelope);
    }
  }

  auto sealed = k_seal.seal("stet:node:n1", input, k_now, {42, 1});
  auto opened = k_seal.open("stet:node:n1", sealed, k_now);
  if (!opened.ok || opened.body != input)
    std::abort();
  if (k_seal.open("stet:node:n2", sealed, k_now).ok)
    std::abort(); // sealed for one channel, refused on another
  return 0;
}
