// Sec-WebSocket-Accept (RFC 6455 section 4.2.2): base64(SHA-1(key + GUID)), from OpenSSL.
#pragma once

#include <cstddef>
#include <string_view>

namespace ringws {

inline constexpr size_t kWebSocketAcceptLength = 28;

/// Writes the 28-character accept value for `key` into `out`.
void websocket_accept(std::string_view key, char out[kWebSocketAcceptLength]);

/// True if `key` is the base64 encoding of exactly 16 bytes (24 characters, "==" padded).
/// Canonical only: the 22nd character must leave the four padding bits zero (RFC 4648
/// section 3.5), as every base64 encoder of 16 random bytes does.
bool is_valid_websocket_key(std::string_view key);

}  // namespace ringws
