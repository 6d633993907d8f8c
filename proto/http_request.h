// HTTP/1.1 request parsing for the WebSocket upgrade and the plain GET endpoints.
// A pure function over bytes (STYLE.md habit 1): it allocates nothing, caps what it
// accepts, and has three outcomes. The caller keeps the bytes received so far and calls
// again from the start with more; the request head is at most `max_head_bytes` long, so
// re-parsing is bounded.
#pragma once

#include <cstddef>
#include <string_view>

namespace ringws {

enum class HttpParse { kComplete, kPartial, kError };

struct HttpRequest {
  std::string_view method;
  std::string_view target;  ///< origin-form: path plus optional ?query
  int minor_version = 1;    ///< HTTP/1.x
  // The headers ringws acts on; values trimmed of surrounding spaces and tabs. A header
  // that appears twice is joined only for the comma-list headers (Connection, Upgrade);
  // for the others the first one wins, except Sec-WebSocket-Key which makes it an error.
  std::string_view host;
  std::string_view connection;
  std::string_view upgrade;
  std::string_view sec_websocket_key;
  std::string_view sec_websocket_version;
  std::string_view origin;
  std::string_view x_forwarded_for;
  size_t header_count = 0;
  size_t head_bytes = 0;  ///< bytes of the request head, including the final CRLF CRLF
};

struct HttpParseResult {
  HttpParse status;
  int error_status = 0;  ///< with kError: 400 (malformed) or 431 (head over the limit)
};

/// Parses the request head at the start of `bytes`. kPartial means "need more bytes"; it is
/// returned only while the head can still fit in `max_head_bytes`. Request bodies are not
/// supported (a GET has none); bytes after the head belong to the caller (for a WebSocket,
/// frames the client sent right after its handshake).
HttpParseResult parse_http_request(std::string_view bytes, size_t max_head_bytes, HttpRequest& out);

/// What the server does with a complete request.
enum class RequestKind { kWebSocketUpgrade, kPlainGet, kReject };

struct RequestVerdict {
  RequestKind kind;
  int status = 0;  ///< with kReject: 400, 405 or 426
};

/// Classifies a parsed request: GET with `Upgrade: websocket`, a `Connection` list holding
/// `upgrade`, a Host, a Sec-WebSocket-Key that is base64 of 16 bytes and
/// Sec-WebSocket-Version 13 is an upgrade (any path); a wrong version is 426; a missing or
/// malformed piece is 400; any method but GET is 405; a GET without Upgrade is plain.
RequestVerdict classify_request(const HttpRequest& request);

/// True if the comma-separated `list` holds `token`, compared case-insensitively.
bool header_list_contains(std::string_view list, std::string_view token);

}  // namespace ringws
