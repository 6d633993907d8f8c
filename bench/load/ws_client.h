// The client side of RFC 6455, as pure functions over bytes: the upgrade request and the
// check of the server's 101 response, masked frame encoding, and a decoder for server
// frames with three outcomes (a frame, need more bytes, error). Nothing here touches a
// socket, so every split point can be unit-tested.
//
// Standalone on purpose (OpenSSL only): it checks the server's handshake, so it must not
// share the server's own Sec-WebSocket-Accept code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringws::load {

enum class WsOp : uint8_t { kCont = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xa };

/// A fresh Sec-WebSocket-Key: base64 of 16 random bytes (OpenSSL RAND_bytes).
std::string make_websocket_key();
/// The Sec-WebSocket-Accept a server must answer `key` with: base64(SHA-1(key + GUID)).
std::string expected_accept(std::string_view key);

/// The GET request of the upgrade. `host` is the Host header value (with :port when not 80).
std::string make_upgrade_request(std::string_view host, std::string_view path, std::string_view key);

enum class ParseStatus { kDone, kNeedMore, kError };

struct HandshakeResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;  ///< with kDone: bytes of the response head (frames may follow)
  int http_status = 0;  ///< the status code once the status line was read (0 before, or if malformed)
  std::string error;    ///< with kError: why, for the report
};

/// Checks the server's response head in `bytes`: status 101, Upgrade: websocket,
/// Connection: upgrade, the right Sec-WebSocket-Accept. A head longer than `max_head`
/// bytes is an error (bounded memory against a server that never ends its head).
HandshakeResult parse_upgrade_response(std::string_view bytes, std::string_view key, size_t max_head = 16384);

/// Appends one masked client frame (FIN set) to `out`. `mask` is the 4-byte masking key.
void encode_frame(std::string& out, WsOp op, std::span<const uint8_t> payload, uint32_t mask, bool fin = true);
inline void encode_frame(std::string& out, WsOp op, std::string_view payload, uint32_t mask, bool fin = true) {
  encode_frame(out, op, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, mask, fin);
}

struct FrameHeader {
  bool fin = false;
  WsOp op = WsOp::kCont;
  size_t header_len = 0;
  uint64_t payload_len = 0;
};

struct DecodeResult {
  ParseStatus status = ParseStatus::kNeedMore;
  FrameHeader header;  ///< with kDone: the whole frame is header_len + payload_len bytes
  const char* error = nullptr;
};

/// Decodes the server frame at the start of `bytes`: kDone only when the whole frame (header
/// and payload) is present. Errors: reserved bits set (no extension is negotiated), unknown
/// opcode, a masked server frame, a control frame that is fragmented or over 125 bytes, a
/// non-minimal length, a payload over `max_payload`.
DecodeResult decode_frame(std::span<const uint8_t> bytes, uint64_t max_payload);

/// Parses a close frame's payload: code 1005 when empty; false if it is 1 byte long.
bool parse_close_payload(std::span<const uint8_t> payload, uint16_t& code);

}  // namespace ringws::load
