#include "bench/load/attack_bytes.h"

#include "bench/load/ws_client.h"

namespace ringws::load {

namespace {
constexpr std::string_view kFiller = "X-Slowloris: x\r\n";
}  // namespace

std::string make_ping_burst(size_t payload, size_t count, uint32_t mask) {
  std::string p(payload, 'p'), out;
  out.reserve(count * ping_frame_size(payload));
  for (size_t i = 0; i < count; ++i) encode_frame(out, WsOp::kPing, std::string_view(p), mask);
  return out;
}

std::string make_half_request(std::string_view host, std::string_view path, std::string_view key) {
  std::string r = make_upgrade_request(host, path, key);
  r.resize(r.size() - 2);  // "...\r\n\r\n" -> "...\r\n"
  return r;
}

char slowloris_byte(std::string_view head, uint64_t i) {
  if (i < head.size()) return head[size_t(i)];
  return kFiller[size_t((i - head.size()) % kFiller.size())];
}

std::string make_partial_request(std::string_view host, std::string_view path, std::string_view key) {
  std::string r = make_upgrade_request(host, path, key);
  r.resize(r.size() / 2);
  return r;
}

std::string make_partial_message(uint64_t size, uint64_t tail, uint32_t mask) {
  // The header declares all `size` bytes (encode_frame would declare only what it is given);
  // then the masked payload up to size - tail.
  std::string out;
  uint8_t h[14];
  size_t n = 0;
  h[n++] = 0x80 | uint8_t(WsOp::kBinary);
  if (size < 126) {
    h[n++] = uint8_t(0x80 | size);
  } else if (size <= 0xffff) {
    h[n++] = 0x80 | 126;
    h[n++] = uint8_t(size >> 8);
    h[n++] = uint8_t(size);
  } else {
    h[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; --i) h[n++] = uint8_t(size >> (8 * i));
  }
  uint8_t m[4] = {uint8_t(mask >> 24), uint8_t(mask >> 16), uint8_t(mask >> 8), uint8_t(mask)};
  for (uint8_t b : m) h[n++] = b;
  uint64_t sent = size - (tail > size ? size : tail);
  out.resize(n + size_t(sent));
  for (size_t i = 0; i < n; ++i) out[i] = char(h[i]);
  for (uint64_t i = 0; i < sent; ++i) out[n + size_t(i)] = char(uint8_t('m') ^ m[i & 3]);
  return out;
}

}  // namespace ringws::load
