#include "proto/base64url.h"

#include <cstdint>

namespace ringws {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct DecodeTable {
  int8_t value[256];
  constexpr DecodeTable() : value() {
    for (int i = 0; i < 256; ++i) value[i] = -1;
    for (int i = 0; i < 64; ++i) value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
};
constexpr DecodeTable kDecode;

}  // namespace

size_t base64url_decoded_size(size_t encoded_size) {
  if (encoded_size % 4 == 1) return SIZE_MAX;
  return encoded_size / 4 * 3 + (encoded_size % 4 ? encoded_size % 4 - 1 : 0);
}

size_t base64url_decode(std::string_view in, std::span<uint8_t> out) {
  size_t need = base64url_decoded_size(in.size());
  if (need == SIZE_MAX || need > out.size()) return SIZE_MAX;
  size_t o = 0, i = 0;
  for (; i + 4 <= in.size(); i += 4) {
    int a = kDecode.value[static_cast<unsigned char>(in[i])], b = kDecode.value[static_cast<unsigned char>(in[i + 1])];
    int c = kDecode.value[static_cast<unsigned char>(in[i + 2])],
        d = kDecode.value[static_cast<unsigned char>(in[i + 3])];
    if ((a | b | c | d) < 0) return SIZE_MAX;
    uint32_t v = uint32_t(a) << 18 | uint32_t(b) << 12 | uint32_t(c) << 6 | uint32_t(d);
    out[o++] = static_cast<uint8_t>(v >> 16);
    out[o++] = static_cast<uint8_t>(v >> 8);
    out[o++] = static_cast<uint8_t>(v);
  }
  size_t rest = in.size() - i;
  if (rest == 0) return o;
  int a = kDecode.value[static_cast<unsigned char>(in[i])], b = kDecode.value[static_cast<unsigned char>(in[i + 1])];
  int c = rest == 3 ? kDecode.value[static_cast<unsigned char>(in[i + 2])] : 0;
  if ((a | b | c) < 0) return SIZE_MAX;
  if (rest == 2) {
    if (b & 0x0f) return SIZE_MAX;  // 4 unused bits
    out[o++] = static_cast<uint8_t>(a << 2 | b >> 4);
  } else {
    if (c & 0x03) return SIZE_MAX;  // 2 unused bits
    out[o++] = static_cast<uint8_t>(a << 2 | b >> 4);
    out[o++] = static_cast<uint8_t>((b & 0x0f) << 4 | c >> 2);
  }
  return o;
}

void base64url_encode(std::span<const uint8_t> bytes, std::string& out) {
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = uint32_t(bytes[i]) << 16 | uint32_t(bytes[i + 1]) << 8 | bytes[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = uint32_t(bytes[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    uint32_t v = uint32_t(bytes[i]) << 16 | uint32_t(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
}

}  // namespace ringws
