#include "core/json_text.h"

#include <cstdint>
#include <cstring>

namespace ringws {
namespace {

/// What one step of the escaper emits for the start of the input: one character, one
/// escape, one whole UTF-8 sequence, or one replacement. Truncation happens between units.
struct Unit {
  char bytes[6];
  size_t size;      ///< output bytes in `bytes`
  size_t consumed;  ///< input bytes this unit stands for
};

Unit literal(const char* text, size_t size, size_t consumed) {
  Unit u{};
  std::memcpy(u.bytes, text, size);
  u.size = size;
  u.consumed = consumed;
  return u;
}

Unit escape_u00(unsigned value, size_t consumed) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char text[6] = {'\\', 'u', '0', '0', kHex[value >> 4], kHex[value & 0xf]};
  return literal(text, 6, consumed);
}

Unit replacement(size_t consumed) { return literal("\\ufffd", 6, consumed); }

bool is_continuation(uint8_t b) { return (b & 0xc0) == 0x80; }

/// A multi-byte UTF-8 sequence at the start of `s` (s[0] >= 0x80), validated as in the
/// Unicode standard's table 3-7: the second byte's range depends on the lead, which rules out
/// overlong forms, surrogates and code points past U+10FFFF. An invalid start is replaced by
/// one U+FFFD per maximal subpart (the W3C/WHATWG practice), so the next sequence is kept.
Unit multibyte(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t need;  // continuation bytes after the lead
  uint8_t lo = 0x80, hi = 0xbf;  // the second byte's range
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    need = 1;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 == 0xe0) lo = 0xa0;  // below: overlong
    if (b0 == 0xed) hi = 0x9f;  // above: U+D800-U+DFFF, surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 == 0xf0) lo = 0x90;  // below: overlong
    if (b0 == 0xf4) hi = 0x8f;  // above: past U+10FFFF
  } else {
    return replacement(1);  // a stray continuation byte, C0, C1 or F5-FF
  }
  size_t have = 1;
  for (; have <= need; ++have) {
    if (have == s.size()) return replacement(have);  // the text ends inside the sequence
    const auto b = static_cast<uint8_t>(s[have]);
    const bool ok = have == 1 ? (b >= lo && b <= hi) : is_continuation(b);
    if (!ok) return replacement(have);
  }
  // C1 controls, U+0080-U+009F, are C2 80 to C2 9F.
  if (b0 == 0xc2 && static_cast<uint8_t>(s[1]) <= 0x9f) return escape_u00(static_cast<uint8_t>(s[1]), 2);
  return literal(s.data(), need + 1, need + 1);
}

Unit next_unit(std::string_view s) {
  const auto c = static_cast<uint8_t>(s[0]);
  switch (c) {
    case '"': return literal("\\\"", 2, 1);
    case '\\': return literal("\\\\", 2, 1);
    case '\n': return literal("\\n", 2, 1);
    case '\r': return literal("\\r", 2, 1);
    case '\t': return literal("\\t", 2, 1);
    default: break;
  }
  if (c < 0x20 || c == 0x7f) return escape_u00(c, 1);
  if (c < 0x80) return literal(s.data(), 1, 1);
  return multibyte(s);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  while (!text.empty()) {
    Unit u = next_unit(text);
    out.append(u.bytes, u.size);
    text.remove_prefix(u.consumed);
  }
  out.push_back('"');
}

size_t write_json_string(std::string_view text, char* out, size_t capacity) {
  if (capacity < 3) {  // no room for a string: an empty C string rather than an overrun
    if (capacity > 0) out[0] = '\0';
    return 0;
  }
  // Room for the closing quote and the NUL is kept back from the start.
  const size_t limit = capacity - 2;
  size_t n = 0;
  out[n++] = '"';
  while (!text.empty()) {
    Unit u = next_unit(text);
    if (n + u.size > limit) break;
    std::memcpy(out + n, u.bytes, u.size);
    n += u.size;
    text.remove_prefix(u.consumed);
  }
  out[n++] = '"';
  out[n] = '\0';
  return n;
}

}  // namespace ringws
