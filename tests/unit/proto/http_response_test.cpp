#include "proto/http_response.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "proto/ws_accept.h"

namespace ringws {
namespace {

struct Parsed {
  std::string status_line;
  std::string head;  // header lines, each ending in CRLF
  std::string body;
};

Parsed split(const std::string& response) {
  Parsed p;
  size_t line_end = response.find("\r\n");
  size_t head_end = response.find("\r\n\r\n");
  EXPECT_NE(head_end, std::string::npos) << response;
  if (line_end == std::string::npos || head_end == std::string::npos) return p;
  p.status_line = response.substr(0, line_end);
  p.head = response.substr(line_end + 2, head_end + 2 - (line_end + 2));
  p.body = response.substr(head_end + 4);
  return p;
}

TEST(SwitchingProtocols, IsTheExact101ForTheRfcKey) {
  char out[kMax101Bytes];
  size_t n = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out);
  EXPECT_EQ(std::string(out, n),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

TEST(SwitchingProtocols, NamesTheChosenSubprotocol) {
  char out[kMax101Bytes];
  size_t n = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", out, "ringws.v1");
  EXPECT_EQ(std::string(out, n),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "Sec-WebSocket-Protocol: ringws.v1\r\n"
            "\r\n");
  // One longer than the cap is left out rather than cut.
  char big[kMax101Bytes + 16];
  std::memset(big, 0x5a, sizeof(big));
  n = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", big, std::string(kMaxSubprotocolBytes + 1, 'p'));
  EXPECT_EQ(std::string(big, n).find("Sec-WebSocket-Protocol"), std::string::npos);
  n = write_switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", big, std::string(kMaxSubprotocolBytes, 'p'));
  EXPECT_LE(n, kMax101Bytes);
  for (size_t i = kMax101Bytes; i < sizeof(big); ++i) EXPECT_EQ(big[i], 0x5a);
}

TEST(SimpleResponse, Unauthorized401NamesTheBearerScheme) {
  Parsed p = split(simple_response(401));
  EXPECT_EQ(p.status_line, "HTTP/1.1 401 Unauthorized");
  EXPECT_NE(p.head.find("WWW-Authenticate: Bearer realm=\"ringws\"\r\n"), std::string::npos);
  EXPECT_EQ(p.body, "Unauthorized\n");
}

TEST(SwitchingProtocols, StaysInsideTheDocumentedBuffer) {
  // Canary bytes after kMax101Bytes must survive.
  char buf[kMax101Bytes + 16];
  std::memset(buf, 0x5a, sizeof(buf));
  size_t n = write_switching_protocols("x3JJHMbDL1EzLkh9GBhXDw==", buf);
  EXPECT_LE(n, kMax101Bytes);
  for (size_t i = kMax101Bytes; i < sizeof(buf); ++i) EXPECT_EQ(buf[i], 0x5a);
  char accept[kWebSocketAcceptLength];
  websocket_accept("x3JJHMbDL1EzLkh9GBhXDw==", accept);
  EXPECT_NE(std::string(buf, n).find(
                "Sec-WebSocket-Accept: " + std::string(accept, kWebSocketAcceptLength) + "\r\n"),
            std::string::npos);
}

TEST(SimpleResponse, DefaultBodyIsTheReasonPhraseAndLengthMatches) {
  for (int status : {200, 400, 403, 404, 431, 500, 503}) {
    Parsed p = split(simple_response(status));
    EXPECT_EQ(p.status_line,
              "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)));
    EXPECT_EQ(p.body, std::string(reason_phrase(status)) + "\n");
    EXPECT_NE(p.head.find("Content-Length: " + std::to_string(p.body.size()) + "\r\n"),
              std::string::npos);
    EXPECT_NE(p.head.find("Connection: close\r\n"), std::string::npos);
    EXPECT_NE(p.head.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
    EXPECT_EQ(p.head.find("Allow:"), std::string::npos) << status;
    EXPECT_EQ(p.head.find("Sec-WebSocket-Version:"), std::string::npos) << status;
  }
}

TEST(SimpleResponse, MethodNotAllowedNamesGet) {
  Parsed p = split(simple_response(405));
  EXPECT_EQ(p.status_line, "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(p.head.find("Allow: GET\r\n"), std::string::npos);
}

TEST(SimpleResponse, UpgradeRequiredNamesVersion13) {
  Parsed p = split(simple_response(426));
  EXPECT_EQ(p.status_line, "HTTP/1.1 426 Upgrade Required");
  EXPECT_NE(p.head.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
}

TEST(SimpleResponse, CustomBodyAndContentType) {
  std::string body = "# HELP ringws_connections open connections\nringws_connections 3\n";
  Parsed p = split(simple_response(200, body, "text/plain; version=0.0.4"));
  EXPECT_EQ(p.body, body);
  EXPECT_NE(p.head.find("Content-Type: text/plain; version=0.0.4\r\n"), std::string::npos);
  EXPECT_NE(p.head.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
}

TEST(SimpleResponse, OutOfRangeStatusBecomes500) {
  EXPECT_EQ(split(simple_response(42)).status_line, "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(split(simple_response(1000)).status_line, "HTTP/1.1 500 Internal Server Error");
}

TEST(ReasonPhrase, KnowsTheStatusesTheServerSends) {
  EXPECT_EQ(reason_phrase(101), "Switching Protocols");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(403), "Forbidden");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(426), "Upgrade Required");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(299), "Unknown");
}

}  // namespace
}  // namespace ringws
