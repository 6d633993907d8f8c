// Server frames: unmasked (RFC 6455 section 5.1), minimal length encoding, written once per
// message into a SharedFrame that every recipient queues by reference.
#include <cstring>
#include <limits>

#include "proto/ws_framer.h"

namespace ringws {

size_t frame_header_size(uint64_t payload_length) {
  if (payload_length < 126) return 2;
  if (payload_length <= 0xffff) return 4;
  return 10;
}

size_t write_frame_header(uint8_t* out, Opcode opcode, uint64_t payload_length, bool fin) {
  out[0] = static_cast<uint8_t>((fin ? 0x80 : 0x00) | static_cast<uint8_t>(opcode));
  if (payload_length < 126) {
    out[1] = static_cast<uint8_t>(payload_length);
    return 2;
  }
  if (payload_length <= 0xffff) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_length >> 8);
    out[3] = static_cast<uint8_t>(payload_length);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_length >> (56 - 8 * i));
  return 10;
}

SharedFrame* make_frame(Opcode opcode, std::span<const uint8_t> payload) {
  // A control frame longer than 125 bytes is not a frame any peer may accept.
  const bool control = (static_cast<uint8_t>(opcode) & 0x8) != 0;
  if (control && payload.size() > 125) return nullptr;
  const size_t header = frame_header_size(payload.size());
  if (payload.size() > std::numeric_limits<uint32_t>::max() - header) return nullptr;
  SharedFrame* frame = SharedFrame::create(static_cast<uint32_t>(header + payload.size()));
  if (!frame) return nullptr;
  write_frame_header(frame->data(), opcode, payload.size());
  if (!payload.empty()) std::memcpy(frame->data() + header, payload.data(), payload.size());
  return frame;
}

SharedFrame* make_text_frame(std::string_view text) {
  return make_frame(Opcode::kText, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

SharedFrame* make_close_frame(uint16_t code, std::string_view reason) {
  if (code == 1005) return make_frame(Opcode::kClose, {});
  // 125 bytes of control payload, 2 of them the code. Cut before a continuation byte so
  // the reason stays valid UTF-8 (a peer fails the connection with 1007 otherwise).
  size_t len = reason.size();
  if (len > 123) {
    len = 123;
    while (len > 0 && (static_cast<uint8_t>(reason[len]) & 0xC0) == 0x80) --len;
  }
  uint8_t payload[125];
  payload[0] = static_cast<uint8_t>(code >> 8);
  payload[1] = static_cast<uint8_t>(code);
  if (len > 0) std::memcpy(payload + 2, reason.data(), len);
  return make_frame(Opcode::kClose, {payload, 2 + len});
}

}  // namespace ringws
