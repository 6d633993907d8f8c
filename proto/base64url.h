// base64url without padding (RFC 4648 section 5), as JWS compact serialization uses it
// (RFC 7515 section 2). A pure function over bytes: the caller gives the output buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringws {

/// Bytes that `encoded_size` characters of base64url decode to, or SIZE_MAX when no string
/// of that length is valid (a length of 1 modulo 4).
size_t base64url_decoded_size(size_t encoded_size);

/// Decodes `in` into `out` (at least base64url_decoded_size(in.size()) bytes) and returns the
/// bytes written, or SIZE_MAX when `in` is not canonical base64url: a character outside
/// A-Z a-z 0-9 '-' '_' (so no padding '=', no white space, no '+' or '/'), a length of 1
/// modulo 4, or a last character whose unused low bits are not zero (RFC 4648 section 3.5:
/// such a string is not what any encoder writes, and accepting it would let one token have
/// several spellings).
size_t base64url_decode(std::string_view in, std::span<uint8_t> out);

/// Appends the unpadded base64url encoding of `bytes` to `out`.
void base64url_encode(std::span<const uint8_t> bytes, std::string& out);
inline void base64url_encode(std::string_view bytes, std::string& out) {
  base64url_encode({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, out);
}

}  // namespace ringws
