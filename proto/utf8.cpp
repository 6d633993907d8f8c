#include "proto/utf8.h"

#include <simdjson.h>

#include <cstring>

namespace ringws {
namespace {

// Length of the sequence a lead byte announces; 0 for a byte that cannot start one
// (a continuation byte or 0xF8..0xFF). Overlong and out-of-range leads (0xC0, 0xC1,
// 0xF5..0xF7) get their nominal length here and are rejected by prefix_can_complete.
size_t sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xC0) return 0;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 0;
}

// True if the incomplete sequence `p[0..n)` (n < its nominal length) can still be the start
// of a valid code point: Autobahn 6.x expects a failure on the fragment where the bad byte
// arrives, not at the end of the message. Ranges from RFC 3629 section 4.
bool prefix_can_complete(const uint8_t* p, size_t n) {
  const uint8_t lead = p[0];
  if (lead < 0xC2 || lead > 0xF4) return false;
  if (n < 2) return true;
  const uint8_t second = p[1];
  uint8_t lo = 0x80, hi = 0xBF;
  if (lead == 0xE0) lo = 0xA0;        // overlong 3-byte
  else if (lead == 0xED) hi = 0x9F;   // UTF-16 surrogates
  else if (lead == 0xF0) lo = 0x90;   // overlong 4-byte
  else if (lead == 0xF4) hi = 0x8F;   // above U+10FFFF
  if (second < lo || second > hi) return false;
  if (n < 3) return true;
  return (p[2] & 0xC0) == 0x80;
}

bool validate(const uint8_t* p, size_t n) {
  return simdjson::validate_utf8(reinterpret_cast<const char*>(p), n);
}

}  // namespace

bool Utf8Stream::feed(std::span<const uint8_t> piece, bool final) {
  const uint8_t* p = piece.data();
  size_t n = piece.size();

  // First finish the code point carried over from the previous piece.
  if (carry_len_ > 0) {
    const size_t want = sequence_length(carry_[0]);
    const size_t take = want - carry_len_ < n ? want - carry_len_ : n;
    if (take > 0) std::memcpy(carry_ + carry_len_, p, take);  // p may be null when empty
    carry_len_ = static_cast<uint8_t>(carry_len_ + take);
    p += take;
    n -= take;
    if (carry_len_ < want) {
      if (!prefix_can_complete(carry_, carry_len_)) return false;
      return !final;
    }
    if (!validate(carry_, carry_len_)) return false;
    carry_len_ = 0;
  }

  // Find an incomplete sequence at the end: look back over at most three bytes for a lead
  // byte whose sequence runs past the end of the piece.
  size_t tail = 0;
  for (size_t i = 1; i <= 3 && i <= n; ++i) {
    const uint8_t b = p[n - i];
    if ((b & 0xC0) == 0x80) continue;  // continuation: keep looking for its lead
    if (sequence_length(b) > i) tail = i;
    break;
  }
  if (!validate(p, n - tail)) return false;
  if (tail == 0) return true;
  if (final || !prefix_can_complete(p + n - tail, tail)) return false;
  std::memcpy(carry_, p + n - tail, tail);
  carry_len_ = static_cast<uint8_t>(tail);
  return true;
}

bool is_valid_utf8(std::span<const uint8_t> bytes) { return validate(bytes.data(), bytes.size()); }

}  // namespace ringws
