// Test helpers for the framer: masked client frames built byte by byte (any opcode, FIN,
// RSV, mask key and length encoding, including the non-minimal ones a server must
// refuse), a sink that records what it is told, and a driver that feeds a wire image in
// pieces cut at given offsets.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/ws_framer.h"

namespace ringws::test {

using Bytes = std::vector<uint8_t>;

inline Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

enum class LenEncoding { kMinimal, k7, k16, k64 };

struct ClientFrame {
  uint8_t opcode = 0x1;
  bool fin = true;
  uint8_t rsv = 0;  // 3 bits: RSV1 << 2 | RSV2 << 1 | RSV3
  bool masked = true;
  std::array<uint8_t, 4> key = {0x37, 0xfa, 0x21, 0x3d};
  Bytes payload;
  LenEncoding encoding = LenEncoding::kMinimal;
  std::optional<uint64_t> declared_length;  // written instead of payload.size()
};

inline Bytes encode(const ClientFrame& f) {
  Bytes out;
  out.push_back(static_cast<uint8_t>((f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0xf)));
  const uint64_t len = f.declared_length.value_or(f.payload.size());
  LenEncoding enc = f.encoding;
  if (enc == LenEncoding::kMinimal) {
    enc = len < 126 ? LenEncoding::k7 : len <= 0xffff ? LenEncoding::k16 : LenEncoding::k64;
  }
  const uint8_t mask_bit = f.masked ? 0x80 : 0;
  if (enc == LenEncoding::k7) {
    out.push_back(static_cast<uint8_t>(mask_bit | (len & 0x7f)));
  } else if (enc == LenEncoding::k16) {
    out.push_back(mask_bit | 126);
    out.push_back(static_cast<uint8_t>(len >> 8));
    out.push_back(static_cast<uint8_t>(len));
  } else {
    out.push_back(mask_bit | 127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  }
  if (f.masked) out.insert(out.end(), f.key.begin(), f.key.end());
  for (size_t i = 0; i < f.payload.size(); ++i) {
    out.push_back(f.masked ? static_cast<uint8_t>(f.payload[i] ^ f.key[i % 4]) : f.payload[i]);
  }
  return out;
}

inline ClientFrame frame(uint8_t opcode, Bytes payload, bool fin = true) {
  ClientFrame f;
  f.opcode = opcode;
  f.payload = std::move(payload);
  f.fin = fin;
  return f;
}
inline Bytes text(std::string_view s, bool fin = true) { return encode(frame(0x1, bytes_of(s), fin)); }
inline Bytes binary(Bytes b, bool fin = true) { return encode(frame(0x2, std::move(b), fin)); }
inline Bytes cont(Bytes b, bool fin = true) { return encode(frame(0x0, std::move(b), fin)); }
inline Bytes ping(std::string_view s) { return encode(frame(0x9, bytes_of(s))); }
inline Bytes pong(std::string_view s) { return encode(frame(0xa, bytes_of(s))); }
inline Bytes close_payload(uint16_t code, std::string_view reason) {
  Bytes p{static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code)};
  p.insert(p.end(), reason.begin(), reason.end());
  return p;
}
inline Bytes close(uint16_t code, std::string_view reason = {}) {
  return encode(frame(0x8, close_payload(code, reason)));
}

inline Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Event {
  enum Kind { kMessage, kPing, kPong, kClose } kind;
  Opcode opcode = Opcode::kContinuation;
  Bytes payload;
  uint16_t code = 0;
  bool operator==(const Event&) const = default;
};

class RecordingSink final : public FrameSink {
 public:
  void on_message(uint64_t, Opcode opcode, std::span<const uint8_t> p) override {
    events.push_back({Event::kMessage, opcode, Bytes(p.begin(), p.end()), 0});
  }
  void on_ping(uint64_t, std::span<const uint8_t> p) override {
    events.push_back({Event::kPing, Opcode::kPing, Bytes(p.begin(), p.end()), 0});
  }
  void on_pong(uint64_t, std::span<const uint8_t> p) override {
    events.push_back({Event::kPong, Opcode::kPong, Bytes(p.begin(), p.end()), 0});
  }
  void on_close(uint64_t, uint16_t code, std::string_view reason) override {
    events.push_back({Event::kClose, Opcode::kClose, bytes_of(reason), code});
  }
  std::vector<Event> events;
};

struct Outcome {
  std::vector<Event> events;
  FeedStatus status = FeedStatus::kOk;
  uint16_t close_code = 0;
  bool left_in_progress = false;  // the state was still lent after the last piece
  bool operator==(const Outcome&) const = default;
};

/// Feeds `wire` to a fresh pool in pieces ending at each offset in `cuts` (ascending),
/// stopping at the first kClosed or kFail as a connection would.
inline Outcome run(const Bytes& wire, const std::vector<size_t>& cuts = {},
                   FramerLimits limits = {}) {
  FramerPool pool(limits);
  RecordingSink sink;
  ReaderState* state = nullptr;
  Outcome out;
  size_t begin = 0;
  auto feed_to = [&](size_t end) {
    FeedResult r = pool.feed(state, {wire.data() + begin, end - begin}, sink);
    begin = end;
    out.status = r.status;
    out.close_code = r.close_code;
    return r.status == FeedStatus::kOk;
  };
  bool open = true;
  for (size_t cut : cuts) {
    if (!(open = feed_to(cut))) break;
  }
  if (open) feed_to(wire.size());
  out.events = std::move(sink.events);
  out.left_in_progress = state != nullptr;
  pool.release(state);
  return out;
}

/// Feeds one byte per call.
inline Outcome run_bytewise(const Bytes& wire, FramerLimits limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < wire.size(); ++i) cuts.push_back(i);
  return run(wire, cuts, limits);
}

inline Event message(Opcode op, Bytes payload) { return {Event::kMessage, op, std::move(payload), 0}; }
inline Event text_message(std::string_view s) { return message(Opcode::kText, bytes_of(s)); }

}  // namespace ringws::test
