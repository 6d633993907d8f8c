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
  /// origin-form: path plus optional ?query. From an absolute-form target, the path and
  /// query after its authority, or the static string "/" when nothing follows it.
  std::string_view target;
  int minor_version = 1;    ///< HTTP/1.x
  // The headers ringws acts on; values trimmed of surrounding spaces and tabs, viewing
  // into the caller's bytes. A header that appears twice: the parser allocates nothing, so
  // it cannot join lines. For the comma-list headers (Connection, Upgrade) the field holds
  // the first line whose list names the token ringws looks for ("upgrade", "websocket"),
  // or else the first line, so header_list_contains() answers as it would on the joined
  // list. X-Forwarded-For: the last line wins (its right-most entry is the nearest
  // proxy's). Host and Sec-WebSocket-Key twice are errors (400; RFC 9112 section 3.2 for
  // Host). For the others the first one wins.
  /// The Host header, or the authority of an absolute-form target, which replaces it (RFC
  /// 9112 section 3.2.2: a Host header is then still checked for duplicates, its value unused).
  std::string_view host;
  std::string_view connection;
  std::string_view upgrade;
  std::string_view sec_websocket_key;
  std::string_view sec_websocket_version;
  std::string_view origin;
  std::string_view x_forwarded_for;
  /// Sec-WebSocket-Protocol lines, in order: the header may repeat, and its lines together
  /// are one comma-separated list (RFC 6455 section 11.3.4). More than kMaxProtocolLines is 400.
  static constexpr size_t kMaxProtocolLines = 4;
  std::string_view sec_websocket_protocol[kMaxProtocolLines];
  size_t sec_websocket_protocol_lines = 0;
  size_t header_count = 0;
  size_t head_bytes = 0;  ///< bytes of the request head, including the final CRLF CRLF
};

struct HttpParseResult {
  HttpParse status;
  int error_status = 0;  ///< with kError: 400 (malformed) or 431 (head over the limit)
};

/// Parses the request head at the start of `bytes`. kPartial means "need more bytes"; it is
/// returned only while the head can still fit in `max_head_bytes` (so never when
/// bytes.size() > max_head_bytes), and bytes past max_head_bytes are never read. Request
/// bodies are not supported (a GET has none): a Content-Length other than 0, or any
/// Transfer-Encoding, is 400. Bytes after the head belong to the caller (for a WebSocket,
/// frames the client sent right after its handshake) and are not in head_bytes.
/// Strict where RFC 9112 allows it: lines end in CRLF (a bare LF, or a CR not followed by
/// LF, is 400: parsers that disagree on line ends are how smuggling starts); method and
/// header names are tokens; no whitespace before a colon; obs-fold and control characters
/// in values are 400; the version must be HTTP/1.<digit>.
/// The target is origin-form ("/...", any visible ASCII) or absolute-form (RFC 9112 section
/// 3.2.2): "http://" or "https://" (scheme in any case), an authority, then nothing or a
/// path ("/..."): `http://example.com:8080/chat?room=a` gives target "/chat?room=a" and host
/// "example.com:8080"; `http://example.com` gives "/". The authority is host[:port], the host
/// a bracketed IP literal or RFC 3986 reg-name characters; an empty host, userinfo ("user@"),
/// other characters or another scheme are 400. A query or fragment straight after the
/// authority (`http://host?x=1`) is 400 too: its origin form "/?x=1" is not a run of the
/// caller's bytes, and the parser neither allocates nor drops the query (clients put a "/"
/// there: RFC 9112 section 3.2.1 asks for one). Other forms (authority-form for CONNECT,
/// "*" for OPTIONS) are 400, as soon as the target can no longer begin with a scheme.
/// More than 100 header lines is 431. `out` is reset on every call; its fields are
/// meaningful only with kComplete; its views point into `bytes`, except a target of "/" from
/// an absolute form, which is static.
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
/// Details: an Upgrade list without "websocket" (missing, or h2c, say) makes a GET that
/// carries a non-empty Sec-WebSocket-Key or Sec-WebSocket-Version a failed handshake, 400;
/// without those headers such an Upgrade is ignored and the GET is plain (RFC 9110 section
/// 7.8). A websocket upgrade over HTTP/1.0 is 400 (RFC 6455 section 4.1); a missing
/// Sec-WebSocket-Version is 400, any version but 13 is 426, judged before the key.
RequestVerdict classify_request(const HttpRequest& request);

/// True if the comma-separated `list` holds `token`, compared case-insensitively; spaces
/// and tabs around each element are ignored, empty elements skipped.
bool header_list_contains(std::string_view list, std::string_view token);

}  // namespace ringws
