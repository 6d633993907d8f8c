#include "proto/http_response.h"

#include "proto/ws_accept.h"

#include <cstring>

namespace ringws {
namespace {

constexpr std::string_view k101Head =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: ";
constexpr std::string_view k101Protocol = "\r\nSec-WebSocket-Protocol: ";
constexpr std::string_view k101Tail = "\r\n\r\n";
static_assert(k101Head.size() + kWebSocketAcceptLength + k101Protocol.size() + kMaxSubprotocolBytes +
                  k101Tail.size() <=
              kMax101Bytes);

}  // namespace

size_t write_switching_protocols(std::string_view sec_websocket_key, char* out, std::string_view subprotocol) {
  char* p = out;
  std::memcpy(p, k101Head.data(), k101Head.size());
  p += k101Head.size();
  websocket_accept(sec_websocket_key, p);
  p += kWebSocketAcceptLength;
  if (!subprotocol.empty() && subprotocol.size() <= kMaxSubprotocolBytes) {
    std::memcpy(p, k101Protocol.data(), k101Protocol.size());
    p += k101Protocol.size();
    std::memcpy(p, subprotocol.data(), subprotocol.size());
    p += subprotocol.size();
  }
  std::memcpy(p, k101Tail.data(), k101Tail.size());
  p += k101Tail.size();
  return static_cast<size_t>(p - out);
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 202: return "Accepted";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string simple_response(int status, std::string_view body, std::string_view content_type) {
  // The status line needs exactly three digits (RFC 9112 section 4); a caller's bad
  // number becomes a 500 rather than a malformed response.
  if (status < 100 || status > 999) status = 500;
  std::string_view reason = reason_phrase(status);
  std::string default_body;
  if (body.empty()) {
    default_body.reserve(reason.size() + 1);
    default_body.append(reason).push_back('\n');
    body = default_body;
  }
  std::string r;
  r.reserve(160 + content_type.size() + body.size());
  r.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  r.append("Content-Type: ").append(content_type).append("\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  r.append("Connection: close\r\n");
  if (status == 405) r.append("Allow: GET\r\n");
  if (status == 426) r.append("Sec-WebSocket-Version: 13\r\n");
  // RFC 9110 section 15.5.2: a 401 names the scheme. Why the token failed stays in the log.
  if (status == 401) r.append("WWW-Authenticate: Bearer realm=\"ringws\"\r\n");
  r.append("\r\n").append(body);
  return r;
}

}  // namespace ringws
