#include "proto/http_request.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace ringws {
namespace {

constexpr size_t kLimit = 8192;

// What Chrome sends, with an ALB's X-Forwarded-For.
const std::string kUpgrade =
    "GET /chat?room=lobby HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "X-Forwarded-For: 203.0.113.7, 198.51.100.2\r\n"
    "\r\n";

// The same handshake with an absolute-form target (RFC 9112 section 3.2.2), whose authority
// wins over a Host header that disagrees.
const std::string kAbsoluteUpgrade =
    "GET http://example.com:8080/chat?room=a HTTP/1.1\r\n"
    "Host: other.example\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "\r\n";

// The fields a caller sees, as owned strings so two parses can be compared.
struct Fields {
  std::string method, target, host, connection, upgrade, key, version, origin, xff;
  int minor = 0;
  size_t header_count = 0, head_bytes = 0;
  bool operator==(const Fields&) const = default;
};

Fields fields(const HttpRequest& r) {
  return {std::string(r.method),
          std::string(r.target),
          std::string(r.host),
          std::string(r.connection),
          std::string(r.upgrade),
          std::string(r.sec_websocket_key),
          std::string(r.sec_websocket_version),
          std::string(r.origin),
          std::string(r.x_forwarded_for),
          r.minor_version,
          r.header_count,
          r.head_bytes};
}

HttpParseResult parse(std::string_view bytes, HttpRequest& out, size_t limit = kLimit) {
  return parse_http_request(bytes, limit, out);
}

// Status of a parse: 0 for complete, -1 for partial, else the error status.
int outcome(std::string_view bytes, size_t limit = kLimit) {
  HttpRequest r;
  HttpParseResult res = parse(bytes, r, limit);
  if (res.status == HttpParse::kComplete) return 0;
  if (res.status == HttpParse::kPartial) return -1;
  return res.error_status;
}

std::string with_headers(std::string_view request_line, std::string_view headers) {
  return std::string(request_line) + "\r\n" + std::string(headers) + "\r\n";
}

TEST(HttpRequest, ParsesABrowserUpgrade) {
  HttpRequest r;
  HttpParseResult res = parse(kUpgrade, r);
  ASSERT_EQ(res.status, HttpParse::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/chat?room=lobby");
  EXPECT_EQ(r.minor_version, 1);
  EXPECT_EQ(r.host, "example.com:8080");
  EXPECT_EQ(r.connection, "Upgrade");
  EXPECT_EQ(r.upgrade, "websocket");
  EXPECT_EQ(r.sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.sec_websocket_version, "13");
  EXPECT_EQ(r.origin, "https://example.com");
  EXPECT_EQ(r.x_forwarded_for, "203.0.113.7, 198.51.100.2");
  EXPECT_EQ(r.header_count, 13u);
  EXPECT_EQ(r.head_bytes, kUpgrade.size());
  EXPECT_EQ(classify_request(r).kind, RequestKind::kWebSocketUpgrade);
}

TEST(HttpRequest, EveryProperPrefixIsPartialAndTheWholeGivesTheSameFields) {
  HttpRequest whole;
  ASSERT_EQ(parse(kUpgrade, whole).status, HttpParse::kComplete);
  const Fields expected = fields(whole);
  // The caller accumulates bytes and re-parses from the start, so each call sees a prefix.
  for (size_t k = 0; k < kUpgrade.size(); ++k) {
    HttpRequest r;
    ASSERT_EQ(parse(std::string_view(kUpgrade).substr(0, k), r).status, HttpParse::kPartial)
        << "prefix of " << k << " bytes";
  }
  std::string buf;
  HttpRequest r;
  for (char c : kUpgrade) {
    buf.push_back(c);
    HttpParseResult res = parse(buf, r);
    if (buf.size() < kUpgrade.size()) {
      ASSERT_EQ(res.status, HttpParse::kPartial);
    }
  }
  ASSERT_EQ(parse(buf, r).status, HttpParse::kComplete);
  EXPECT_EQ(fields(r), expected);
}

TEST(HttpRequest, PipelinedFramesAfterTheHeadAreNotPartOfIt) {
  // A masked text frame "hi" the client sent without waiting for the 101.
  const std::string frame = "\x81\x82\x01\x02\x03\x04\x69\x6b";
  std::string bytes = kUpgrade + frame;
  HttpRequest r;
  ASSERT_EQ(parse(bytes, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.head_bytes, kUpgrade.size());
  EXPECT_EQ(bytes.substr(r.head_bytes), frame);
  // Even bytes that would be malformed as HTTP are left alone.
  const std::string junk_after = kUpgrade + std::string("\0\r\r\n junk", 9);
  HttpRequest r2;
  ASSERT_EQ(parse(junk_after, r2).status, HttpParse::kComplete);
  EXPECT_EQ(fields(r2), fields(r));
}

TEST(HttpRequest, PlainGetWithoutHeadersAndHttp10) {
  HttpRequest r;
  ASSERT_EQ(parse("GET /healthz HTTP/1.0\r\n\r\n", r).status, HttpParse::kComplete);
  EXPECT_EQ(r.target, "/healthz");
  EXPECT_EQ(r.minor_version, 0);
  EXPECT_EQ(r.header_count, 0u);
  EXPECT_TRUE(r.host.empty());
  EXPECT_EQ(classify_request(r).kind, RequestKind::kPlainGet);
}

TEST(HttpRequest, NamesAreCaseInsensitiveAndValuesTrimmed) {
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1",
                                       "hOsT:example.com\r\n"
                                       "CONNECTION: \t keep-alive, Upgrade \t\r\n"
                                       "upgrade:WebSocket\r\n"
                                       "sec-websocket-key:   x3JJHMbDL1EzLkh9GBhXDw==\r\n"
                                       "SEC-WEBSOCKET-VERSION: 13   \r\n"
                                       "oRiGiN: http://a\r\n"
                                       "x-forwarded-for: 10.0.0.1\r\n"
                                       "X-Empty:\r\n");
  ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.host, "example.com");
  EXPECT_EQ(r.connection, "keep-alive, Upgrade");
  EXPECT_EQ(r.upgrade, "WebSocket");
  EXPECT_EQ(r.sec_websocket_key, "x3JJHMbDL1EzLkh9GBhXDw==");
  EXPECT_EQ(r.sec_websocket_version, "13");
  EXPECT_EQ(r.origin, "http://a");
  EXPECT_EQ(r.x_forwarded_for, "10.0.0.1");
  EXPECT_EQ(r.header_count, 8u);
  EXPECT_EQ(classify_request(r).kind, RequestKind::kWebSocketUpgrade);
}

TEST(HttpRequest, ObsTextInValuesIsAllowed) {
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1", "Host: h\r\nX-Name: caf\xc3\xa9\r\n");
  EXPECT_EQ(parse(req, r).status, HttpParse::kComplete);
}

TEST(HttpRequest, DuplicateConnectionAndUpgradeKeepTheLineNamingTheToken) {
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1",
                                       "Host: h\r\n"
                                       "Connection: keep-alive\r\n"
                                       "Upgrade: h2c\r\n"
                                       "Connection: Upgrade\r\n"
                                       "Upgrade: websocket\r\n"
                                       "Connection: close\r\n"
                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                       "Sec-WebSocket-Version: 13\r\n");
  ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.connection, "Upgrade");
  EXPECT_EQ(r.upgrade, "websocket");
  EXPECT_EQ(classify_request(r).kind, RequestKind::kWebSocketUpgrade);

  // Without the token anywhere, the first line stays.
  const std::string req2 = with_headers("GET / HTTP/1.1", "Connection: a\r\nConnection: b\r\n");
  ASSERT_EQ(parse(req2, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.connection, "a");
}

TEST(HttpRequest, FirstOriginAndVersionWinLastForwardedForWins) {
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1",
                                       "Origin: https://first\r\n"
                                       "Origin: https://second\r\n"
                                       "Sec-WebSocket-Version: 13\r\n"
                                       "Sec-WebSocket-Version: 8\r\n"
                                       "X-Forwarded-For: 6.6.6.6\r\n"
                                       "X-Forwarded-For: 203.0.113.7\r\n");
  ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.origin, "https://first");
  EXPECT_EQ(r.sec_websocket_version, "13");
  EXPECT_EQ(r.x_forwarded_for, "203.0.113.7");
}

TEST(HttpRequest, EverySecWebSocketProtocolLineIsKeptInOrder) {
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1",
                                       "Sec-WebSocket-Protocol: ringws.v1, bearer.abc\r\n"
                                       "X-Other: 1\r\n"
                                       "sec-websocket-protocol:  chat \r\n"
                                       "Sec-WebSocket-Protocol:\r\n"
                                       "SEC-WEBSOCKET-PROTOCOL: last\r\n");
  ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
  ASSERT_EQ(r.sec_websocket_protocol_lines, 4u);
  EXPECT_EQ(r.sec_websocket_protocol[0], "ringws.v1, bearer.abc");
  EXPECT_EQ(r.sec_websocket_protocol[1], "chat");
  EXPECT_EQ(r.sec_websocket_protocol[2], "");
  EXPECT_EQ(r.sec_websocket_protocol[3], "last");
  HttpRequest none;
  ASSERT_EQ(parse(kUpgrade, none).status, HttpParse::kComplete);
  EXPECT_EQ(none.sec_websocket_protocol_lines, 0u);
}

// --- absolute-form targets ----------------------------------------------------------

TEST(HttpRequest, AbsoluteFormGivesTheOriginFormAndTheAuthorityAsHost) {
  HttpRequest r;
  ASSERT_EQ(parse(kAbsoluteUpgrade, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.target, "/chat?room=a");
  EXPECT_EQ(r.host, "example.com:8080");
  EXPECT_EQ(r.head_bytes, kAbsoluteUpgrade.size());
  EXPECT_EQ(classify_request(r).kind, RequestKind::kWebSocketUpgrade);
  // Views into the request, as for an origin-form target.
  EXPECT_EQ(r.target.data(), kAbsoluteUpgrade.data() + kAbsoluteUpgrade.find("/chat"));
  EXPECT_EQ(r.host.data(), kAbsoluteUpgrade.data() + kAbsoluteUpgrade.find("example.com"));
}

TEST(HttpRequest, AbsoluteFormEveryPrefixIsPartial) {
  for (size_t k = 0; k < kAbsoluteUpgrade.size(); ++k)
    ASSERT_EQ(outcome(std::string_view(kAbsoluteUpgrade).substr(0, k)), -1) << "prefix of " << k << " bytes";
}

struct AbsoluteCase {
  const char* target;
  const char* origin_form;
  const char* host;
};

TEST(HttpRequest, AbsoluteFormVariants) {
  const AbsoluteCase cases[] = {
      {"http://example.com/", "/", "example.com"},
      {"http://example.com", "/", "example.com"},          // empty path: "/"
      {"http://example.com:8080", "/", "example.com:8080"},
      {"http://example.com:", "/", "example.com:"},         // RFC 3986: port = *DIGIT
      {"HTTP://Example.COM/Chat", "/Chat", "Example.COM"},   // the scheme in any case
      {"hTtPs://h/a/b?c=d&e", "/a/b?c=d&e", "h"},
      {"https://h/?", "/?", "h"},
      {"http://h//x", "//x", "h"},
      {"http://h/#frag", "/#frag", "h"},                     // as origin form allows it
      {"http://203.0.113.7:80/ws", "/ws", "203.0.113.7:80"},
      {"http://[::1]:8080/ws", "/ws", "[::1]:8080"},
      {"http://[2001:db8::7]/", "/", "[2001:db8::7]"},
      {"http://[::ffff:1.2.3.4]", "/", "[::ffff:1.2.3.4]"},
      {"http://a-b.c_d~e!$&'()*+,;=f/", "/", "a-b.c_d~e!$&'()*+,;=f"},
      {"http://%41b/x", "/x", "%41b"},
  };
  for (const AbsoluteCase& c : cases) {
    SCOPED_TRACE(c.target);
    const std::string req = with_headers(std::string("GET ") + c.target + " HTTP/1.1", "");
    HttpRequest r;
    ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
    EXPECT_EQ(r.target, c.origin_form);
    EXPECT_EQ(r.host, c.host);
    EXPECT_EQ(classify_request(r).kind, RequestKind::kPlainGet);
  }
}

TEST(HttpRequest, AbsoluteFormHostHeaderIsIgnoredButStillSingle) {
  HttpRequest r;
  const std::string first = with_headers("GET http://a.example/ HTTP/1.1", "Host: b.example\r\n");
  ASSERT_EQ(parse(first, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.host, "a.example");
  const std::string later = with_headers("GET http://a.example/x HTTP/1.1", "X: y\r\nhost: c\r\n");
  ASSERT_EQ(parse(later, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.host, "a.example");
  EXPECT_EQ(outcome(with_headers("GET http://a.example/ HTTP/1.1", "Host: a\r\nHost: a\r\n")), 400);
}

TEST(HttpRequest, TargetsThatCannotBecomeAnHttpUriFailEarly) {
  // Refused at the first byte that rules out "/", "http://" and "https://", not at the space.
  EXPECT_EQ(outcome("OPTIONS *"), 400);
  EXPECT_EQ(outcome("GET f"), 400);
  EXPECT_EQ(outcome("GET httpx"), 400);
  EXPECT_EQ(outcome("GET http:x"), 400);
  // Still possible: partial.
  EXPECT_EQ(outcome("GET "), -1);
  EXPECT_EQ(outcome("GET h"), -1);
  EXPECT_EQ(outcome("GET HTTPS:/"), -1);
  EXPECT_EQ(outcome("GET http://h"), -1);
}

TEST(HttpRequest, ZeroContentLengthIsNotABody) {
  EXPECT_EQ(outcome(with_headers("GET / HTTP/1.1", "Host: h\r\nContent-Length: 0\r\n")), 0);
  EXPECT_EQ(outcome(with_headers("GET / HTTP/1.1", "Host: h\r\nContent-Length: 000\r\n")), 0);
}

struct BadCase {
  const char* name;
  std::string bytes;
  int status;
};

std::vector<BadCase> bad_cases() {
  const std::string ok_headers = "Host: h\r\n";
  std::string too_many;
  for (int i = 0; i < 101; ++i) too_many += "X-H" + std::to_string(i) + ": v\r\n";
  return {
      {"empty method", " / HTTP/1.1\r\n\r\n", 400},
      {"method with a separator", "G(ET / HTTP/1.1\r\n\r\n", 400},
      {"method with a slash", "GE/T / HTTP/1.1\r\n\r\n", 400},
      {"NUL in method", std::string("GE\0T / HTTP/1.1\r\n\r\n", 19), 400},
      {"leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", 400},
      {"two spaces after method", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"asterisk target", "OPTIONS * HTTP/1.1\r\n\r\n", 400},
      {"authority-form target", "CONNECT example.com:443 HTTP/1.1\r\n\r\n", 400},
      {"relative target", "GET chat HTTP/1.1\r\n\r\n", 400},
      {"absolute form, other scheme", "GET ftp://h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, ws scheme", "GET ws://h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, scheme with a suffix", "GET httpx://h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, one slash", "GET http:/h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, no colon", "GET http//h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, scheme only", "GET http:// HTTP/1.1\r\n\r\n", 400},
      {"absolute form, empty authority", "GET http:///x HTTP/1.1\r\n\r\n", 400},
      {"absolute form, empty host", "GET http://:80/x HTTP/1.1\r\n\r\n", 400},
      {"absolute form, userinfo", "GET http://user@h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, userinfo and password", "GET https://u:p@h/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, bad host char", "GET http://h^x/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, quote in host", "GET http://h\"/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, backslash in host", "GET http://h\\x/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, bad percent escape", "GET http://h%zz/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, cut percent escape", "GET http://h%4/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, letters in port", "GET http://h:8x/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, two ports", "GET http://h:80:81/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, unclosed IP literal", "GET http://[::1/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, empty IP literal", "GET http://[]/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, junk after IP literal", "GET http://[::1]x/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, name in brackets", "GET http://[example.com]/ HTTP/1.1\r\n\r\n", 400},
      {"absolute form, query after authority", "GET http://h?x=1 HTTP/1.1\r\n\r\n", 400},
      {"absolute form, fragment after authority", "GET http://h#f HTTP/1.1\r\n\r\n", 400},
      {"absolute form, control char", "GET http://h/\x01 HTTP/1.1\r\n\r\n", 400},
      {"control char in target", "GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"tab in target", "GET /a\tb HTTP/1.1\r\n\r\n", 400},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 400},
      {"lowercase protocol", "GET / http/1.1\r\n\r\n", 400},
      {"two-digit minor", "GET / HTTP/1.10\r\n\r\n", 400},
      {"no version", "GET /\r\n\r\n", 400},
      {"HTTP/1.x", "GET / HTTP/1.x\r\n\r\n", 400},
      {"trailing space after version", "GET / HTTP/1.1 \r\n\r\n", 400},
      {"bare LF after request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
      {"bare LF after header", "GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
      {"bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
      {"CR without LF in request line", "GET / HTTP/1.1\rHost: h\r\n\r\n", 400},
      {"CR without LF in value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
      {"CR without LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\rx", 400},
      {"header without colon", with_headers("GET / HTTP/1.1", "Host h\r\n"), 400},
      {"empty header name", with_headers("GET / HTTP/1.1", ": v\r\n"), 400},
      {"space before colon", with_headers("GET / HTTP/1.1", "Host : h\r\n"), 400},
      {"tab before colon", with_headers("GET / HTTP/1.1", "Host\t: h\r\n"), 400},
      {"separator in name", with_headers("GET / HTTP/1.1", "Ho(st: h\r\n"), 400},
      {"obs-fold", with_headers("GET / HTTP/1.1", "Host: h\r\nX-A: one\r\n two\r\n"), 400},
      {"obs-fold with tab", with_headers("GET / HTTP/1.1", "X-A: one\r\n\ttwo\r\n"), 400},
      {"whitespace before the first header", with_headers("GET / HTTP/1.1", " Host: h\r\n"), 400},
      {"NUL in value", with_headers("GET / HTTP/1.1", std::string("X: a\0b\r\n", 8)), 400},
      {"control char in value", with_headers("GET / HTTP/1.1", "X: a\x1b[0mb\r\n"), 400},
      {"DEL in value", with_headers("GET / HTTP/1.1", "X: a\x7f\r\n"), 400},
      {"duplicate key",
       with_headers("GET / HTTP/1.1",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
       400},
      {"duplicate host", with_headers("GET / HTTP/1.1", "Host: a\r\nHost: b\r\n"), 400},
      {"body by content-length",
       with_headers("GET / HTTP/1.1", ok_headers + "Content-Length: 5\r\n"), 400},
      {"signed content-length", with_headers("GET / HTTP/1.1", "Content-Length: +0\r\n"), 400},
      {"empty content-length", with_headers("GET / HTTP/1.1", "Content-Length:\r\n"), 400},
      {"listed content-length", with_headers("GET / HTTP/1.1", "Content-Length: 0, 0\r\n"), 400},
      {"transfer-encoding",
       with_headers("GET / HTTP/1.1", ok_headers + "Transfer-Encoding: chunked\r\n"), 400},
      {"101 headers", with_headers("GET / HTTP/1.1", too_many), 431},
      {"five Sec-WebSocket-Protocol lines",
       with_headers("GET / HTTP/1.1",
                    "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\nSec-WebSocket-Protocol: c\r\n"
                    "Sec-WebSocket-Protocol: d\r\nSec-WebSocket-Protocol: e\r\n"),
       400},
  };
}

TEST(HttpRequest, MalformedRequestsAreRejectedAndStayRejected) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(outcome(c.bytes), c.status);
    // Re-parsing as bytes arrive: each prefix is partial until the bad byte, then the
    // same error for every longer prefix; never complete.
    int first_error = 0;
    for (size_t k = 0; k <= c.bytes.size(); ++k) {
      int o = outcome(std::string_view(c.bytes).substr(0, k));
      ASSERT_NE(o, 0) << "prefix " << k;
      if (first_error != 0) {
        ASSERT_EQ(o, first_error) << "prefix " << k;
      } else if (o > 0) {
        first_error = o;
      }
    }
    EXPECT_EQ(first_error, c.status);
  }
}

TEST(HttpRequest, HundredHeadersAreAllowed) {
  std::string headers;
  for (int i = 0; i < 100; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
  HttpRequest r;
  const std::string req = with_headers("GET / HTTP/1.1", headers);
  ASSERT_EQ(parse(req, r).status, HttpParse::kComplete);
  EXPECT_EQ(r.header_count, 100u);
}

TEST(HttpRequest, CompleteHeadLongerThanTheLimitIs431) {
  const size_t n = kUpgrade.size();
  EXPECT_EQ(outcome(kUpgrade, n), 0) << "exactly at the limit is fine";
  EXPECT_EQ(outcome(kUpgrade, n - 1), 431);
  EXPECT_EQ(outcome(kUpgrade, 16), 431);
  EXPECT_EQ(outcome(kUpgrade + "trailing frame bytes", n), 0)
      << "bytes after the head do not count against the limit";
}

TEST(HttpRequest, PartialHeadNeverExceedsTheLimit) {
  const size_t limit = 256;
  // A client that never ends its head: partial up to the limit, 431 past it.
  std::string slow = "GET / HTTP/1.1\r\nX-Slow: ";
  while (slow.size() < limit) slow.push_back('a');
  EXPECT_EQ(outcome(slow, limit), -1);
  slow.push_back('a');
  EXPECT_EQ(outcome(slow, limit), 431);
  // The same for a request line that never ends.
  std::string long_target = "GET /" + std::string(limit, 'p');
  EXPECT_EQ(outcome(long_target, limit), 431);
  // And for every prefix of a real request, against every limit: partial only within it.
  for (size_t lim = 0; lim <= kUpgrade.size(); lim += 7) {
    for (size_t k = 0; k < kUpgrade.size(); ++k) {
      int o = outcome(std::string_view(kUpgrade).substr(0, k), lim);
      ASSERT_EQ(o, k <= lim ? -1 : 431) << "limit " << lim << " prefix " << k;
    }
  }
}

TEST(HttpRequest, ManyHeadersOverTheByteLimitIs431NotPartial) {
  std::string headers;
  for (int i = 0; i < 50; ++i) headers += "X-H" + std::to_string(i) + ": value\r\n";
  std::string req = with_headers("GET / HTTP/1.1", headers);
  EXPECT_EQ(outcome(req.substr(0, req.size() - 2), 300), 431);
}

// picohttpparser's trick: put the input's last byte just before a PROT_NONE page, so
// reading one byte too far faults instead of passing silently.
class GuardPage {
 public:
  GuardPage() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* p = mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = static_cast<char*>(p);
    if (mprotect(base_ + page_, page_, PROT_NONE) != 0) {
      munmap(base_, 2 * page_);
      base_ = nullptr;
    }
  }
  ~GuardPage() {
    if (base_ != nullptr) munmap(base_, 2 * page_);
  }
  bool ok() const { return base_ != nullptr; }
  size_t capacity() const { return page_; }
  // Copies `bytes` to end exactly at the guard page and returns the view of the copy.
  std::string_view place(std::string_view bytes) {
    char* start = base_ + page_ - bytes.size();
    std::memcpy(start, bytes.data(), bytes.size());
    return {start, bytes.size()};
  }

 private:
  size_t page_ = 0;
  char* base_ = nullptr;
};

TEST(HttpRequest, NeverReadsPastTheInput) {
  GuardPage guard;
  ASSERT_TRUE(guard.ok());
  std::vector<std::string> inputs = {kUpgrade, kUpgrade + "\x81\x80", kAbsoluteUpgrade,
                                     "GET http://h HTTP/1.1\r\n\r\n", "GET https://[::1]:8/ HTTP/1.1\r\n\r\n"};
  for (const BadCase& c : bad_cases()) inputs.push_back(c.bytes);
  for (const std::string& input : inputs) {
    ASSERT_LE(input.size(), guard.capacity());
    for (size_t k = 0; k <= input.size(); ++k) {
      std::string_view placed = guard.place(std::string_view(input).substr(0, k));
      HttpRequest r;
      HttpParseResult res = parse(placed, r);
      if (res.status == HttpParse::kComplete) {
        EXPECT_LE(r.head_bytes, k);
        // The fields that are set must be views into the input (or the static "/" an
        // absolute form without a path gives).
        for (std::string_view f : {r.method, r.target, r.host, r.sec_websocket_key}) {
          if (!f.empty() && !(f.data() == r.target.data() && f == "/")) {
            EXPECT_GE(f.data(), placed.data());
            EXPECT_LE(f.data() + f.size(), placed.data() + placed.size());
          }
        }
        classify_request(r);  // reads only the views checked above
      }
      // A limit shorter than the input makes the parser stop early too.
      parse(placed, r, k / 2);
    }
  }
}

// --- classify_request -------------------------------------------------------------

struct Upgrade {
  std::string method = "GET";
  std::string version = "HTTP/1.1";
  std::string host = "Host: example.com\r\n";
  std::string connection = "Connection: Upgrade\r\n";
  std::string upgrade = "Upgrade: websocket\r\n";
  std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  std::string ws_version = "Sec-WebSocket-Version: 13\r\n";

  RequestVerdict classify() const {
    std::string bytes =
        with_headers(method + " /ws " + version, host + connection + upgrade + key + ws_version);
    HttpRequest r;
    HttpParseResult res = parse_http_request(bytes, kLimit, r);
    EXPECT_EQ(res.status, HttpParse::kComplete) << bytes;
    return classify_request(r);
  }
};

RequestKind kind_of(const Upgrade& u) { return u.classify().kind; }
int status_of(const Upgrade& u) {
  RequestVerdict v = u.classify();
  return v.kind == RequestKind::kReject ? v.status : 0;
}

TEST(ClassifyRequest, CompleteHandshakeIsAnUpgrade) {
  EXPECT_EQ(kind_of(Upgrade{}), RequestKind::kWebSocketUpgrade);
  Upgrade u;
  u.connection = "Connection: keep-alive, Upgrade\r\n";
  u.upgrade = "Upgrade: WebSocket\r\n";
  EXPECT_EQ(kind_of(u), RequestKind::kWebSocketUpgrade);
}

TEST(ClassifyRequest, OtherMethodsAre405) {
  for (const char* m : {"POST", "PUT", "HEAD", "DELETE", "get"}) {
    Upgrade u;
    u.method = m;
    EXPECT_EQ(status_of(u), 405) << m;
  }
  Upgrade plain;
  plain.method = "POST";
  plain.upgrade = "";
  EXPECT_EQ(status_of(plain), 405);
}

TEST(ClassifyRequest, GetWithoutWebSocketUpgradeIsPlain) {
  // An Upgrade this server does not speak, and no WebSocket handshake headers: ignored.
  Upgrade h2c;
  h2c.upgrade = "Upgrade: h2c\r\n";
  h2c.key = h2c.ws_version = "";
  EXPECT_EQ(kind_of(h2c), RequestKind::kPlainGet);
  Upgrade none = h2c;
  none.upgrade = "";
  EXPECT_EQ(kind_of(none), RequestKind::kPlainGet);
  Upgrade bare;
  bare.host = bare.connection = bare.upgrade = bare.key = bare.ws_version = "";
  EXPECT_EQ(kind_of(bare), RequestKind::kPlainGet);
}

TEST(ClassifyRequest, WebSocketHeadersWithoutTheWebSocketTokenAre400) {
  for (const char* upgrade : {"", "Upgrade: h2c\r\n", "Upgrade: h2c, websockets\r\n", "Upgrade:\r\n"}) {
    SCOPED_TRACE(upgrade);
    Upgrade both;
    both.upgrade = upgrade;
    EXPECT_EQ(status_of(both), 400);
    Upgrade key_only = both;
    key_only.ws_version = "";
    EXPECT_EQ(status_of(key_only), 400);
    Upgrade version_only = both;
    version_only.key = "";
    EXPECT_EQ(status_of(version_only), 400);
    Upgrade no_connection = both;  // with or without Connection: Upgrade
    no_connection.connection = "";
    EXPECT_EQ(status_of(no_connection), 400);
  }
}

TEST(ClassifyRequest, MissingOrMalformedPiecesAre400) {
  Upgrade no_host;
  no_host.host = "";
  EXPECT_EQ(status_of(no_host), 400);
  Upgrade empty_host;
  empty_host.host = "Host:\r\n";
  EXPECT_EQ(status_of(empty_host), 400);
  Upgrade no_connection;
  no_connection.connection = "";
  EXPECT_EQ(status_of(no_connection), 400);
  Upgrade keep_alive;
  keep_alive.connection = "Connection: keep-alive\r\n";
  EXPECT_EQ(status_of(keep_alive), 400);
  Upgrade no_key;
  no_key.key = "";
  EXPECT_EQ(status_of(no_key), 400);
  for (const char* bad : {"dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZR==", "short",
                          "dGhlIHNhbXBsZSBub25jZQ==dGhl", "dGhlIHNhbXBsZSBub25j-Q=="}) {
    Upgrade u;
    u.key = std::string("Sec-WebSocket-Key: ") + bad + "\r\n";
    EXPECT_EQ(status_of(u), 400) << bad;
  }
  Upgrade no_version;
  no_version.ws_version = "";
  EXPECT_EQ(status_of(no_version), 400);
  Upgrade http10;
  http10.version = "HTTP/1.0";
  EXPECT_EQ(status_of(http10), 400);
}

TEST(ClassifyRequest, OtherWebSocketVersionsAre426) {
  for (const char* v : {"8", "12", "14", "13, 8", "abc"}) {
    Upgrade u;
    u.ws_version = std::string("Sec-WebSocket-Version: ") + v + "\r\n";
    EXPECT_EQ(status_of(u), 426) << v;
  }
}

TEST(HeaderListContains, FindsTokensInCommaLists) {
  EXPECT_TRUE(header_list_contains("Upgrade", "upgrade"));
  EXPECT_TRUE(header_list_contains("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(header_list_contains("keep-alive,upgrade", "upgrade"));
  EXPECT_TRUE(header_list_contains(" \tUPGRADE\t , keep-alive", "upgrade"));
  EXPECT_TRUE(header_list_contains(",,upgrade,", "upgrade"));
  EXPECT_FALSE(header_list_contains("", "upgrade"));
  EXPECT_FALSE(header_list_contains("keep-alive", "upgrade"));
  EXPECT_FALSE(header_list_contains("upgrades", "upgrade"));
  EXPECT_FALSE(header_list_contains("no-upgrade", "upgrade"));
  EXPECT_FALSE(header_list_contains("up grade", "upgrade"));
  EXPECT_FALSE(header_list_contains("websocket/13", "websocket"));
}

}  // namespace
}  // namespace ringws
