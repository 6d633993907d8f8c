// The server's HTTP responses: the 101 that completes a WebSocket handshake and the
// small fixed responses (errors, health). Every response but 101 closes the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringws {

/// The longest subprotocol write_switching_protocols() names.
inline constexpr size_t kMaxSubprotocolBytes = 64;
/// The longest 101 response write_switching_protocols() produces.
inline constexpr size_t kMax101Bytes = 256;

/// Writes the 101 Switching Protocols response for `sec_websocket_key` into `out`
/// (at least kMax101Bytes) and returns its length. With a `subprotocol` (one the client
/// offered, at most kMaxSubprotocolBytes; a longer one is left out) the response names it
/// in Sec-WebSocket-Protocol.
size_t write_switching_protocols(std::string_view sec_websocket_key, char* out, std::string_view subprotocol = {});

/// A complete response with `Connection: close`, a text/plain body of the reason phrase
/// (or `body` when given), and the headers a status needs (Allow for 405,
/// Sec-WebSocket-Version for 426). For statuses that carry a body (not 1xx, 204 or 304);
/// a status outside 100-999 becomes 500.
std::string simple_response(int status, std::string_view body = {},
                            std::string_view content_type = "text/plain; charset=utf-8");

/// The standard reason phrase for `status`, or "Unknown".
std::string_view reason_phrase(int status);

}  // namespace ringws
