// ringws-load's client side of RFC 6455: handshake key and accept, the 101 check at every
// split point, masked frames that decode back to their payload, and server-frame decoding.
#include "bench/load/ws_client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <set>
#include <string>
#include <vector>

using namespace ringws::load;

namespace {

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// A server frame (unmasked), as a server would write it.
std::string server_frame(uint8_t first, const std::string& payload) {
  std::string f(1, char(first));
  if (payload.size() < 126) {
    f += char(payload.size());
  } else if (payload.size() <= 0xffff) {
    f += char(126);
    f += char(payload.size() >> 8);
    f += char(payload.size() & 0xff);
  } else {
    f += char(127);
    for (int i = 7; i >= 0; --i) f += char((uint64_t(payload.size()) >> (8 * i)) & 0xff);
  }
  return f + payload;
}

// Unmasks a client frame as a server would; checks the mask bit and returns the payload.
std::string unmask(const std::string& frame, uint8_t& first, size_t& consumed) {
  const auto* b = reinterpret_cast<const uint8_t*>(frame.data());
  first = b[0];
  EXPECT_TRUE(b[1] & 0x80) << "client frames must be masked";
  uint64_t len = b[1] & 0x7f;
  size_t at = 2;
  if (len == 126) {
    len = (uint64_t(b[2]) << 8) | b[3];
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
    at = 10;
  }
  const uint8_t* mask = b + at;
  at += 4;
  std::string p(frame.substr(at, len));
  for (size_t i = 0; i < p.size(); ++i) p[i] = char(uint8_t(p[i]) ^ mask[i & 3]);
  consumed = at + len;
  return p;
}

}  // namespace

TEST(LoadWsClient, AcceptMatchesTheRfcExample) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(expected_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(LoadWsClient, KeysAreFreshBase64Of16Bytes) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string k = make_websocket_key();
    ASSERT_EQ(k.size(), 24u);
    EXPECT_EQ(k.substr(22), "==");
    unsigned char raw[24];
    EXPECT_EQ(EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(k.data()), 24), 18);  // 16 + padding
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(LoadWsClient, UpgradeRequestCarriesTheHeaders) {
  std::string r = make_upgrade_request("127.0.0.1:9000", "/chat?x=1", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(r.rfind("GET /chat?x=1 HTTP/1.1\r\n", 0), 0u);
  for (const char* h : {"Host: 127.0.0.1:9000\r\n", "Upgrade: websocket\r\n", "Connection: Upgrade\r\n",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "Sec-WebSocket-Version: 13\r\n"})
    EXPECT_NE(r.find(h), std::string::npos) << h;
  EXPECT_TRUE(r.ends_with("\r\n\r\n"));
}

TEST(LoadWsClient, ResponseAcceptedAtEverySplitPoint) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const std::string full = head + server_frame(0x81, "hi");
  for (size_t cut = 0; cut < head.size(); ++cut)
    EXPECT_EQ(parse_upgrade_response(full.substr(0, cut), key).status, ParseStatus::kNeedMore) << cut;
  HandshakeResult r = parse_upgrade_response(full, key);
  ASSERT_EQ(r.status, ParseStatus::kDone) << r.error;
  EXPECT_EQ(r.consumed, head.size());  // the frame after the head is left for the decoder
}

TEST(LoadWsClient, ResponseErrors) {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  const std::string ok_accept = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
  struct Case {
    std::string head, why;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\n\r\n", "status 200"},
      {"HTTP/1.1 503 Service Unavailable\r\n\r\n", "status 503"},
      {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + ok_accept + "\r\n", "Upgrade"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" + ok_accept + "\r\n", "Connection"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "missing Sec-WebSocket-Accept"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
       "wrong Sec-WebSocket-Accept"},
      {"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"},
  };
  for (const Case& c : cases) {
    HandshakeResult r = parse_upgrade_response(c.head, key);
    EXPECT_EQ(r.status, ParseStatus::kError) << c.head;
    EXPECT_NE(r.error.find(c.why), std::string::npos) << r.error;
  }
  // A head that never ends is bounded.
  EXPECT_EQ(parse_upgrade_response(std::string(20000, 'a'), key, 16384).status, ParseStatus::kError);
}

TEST(LoadWsClient, ResponseStatusIsReported) {
  // The status code is kept, so that refusals (a shed connection's 503) can be counted.
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 503 Service Unavailable\r\n\r\n", key).http_status, 503);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.0 429 Too Many Requests\r\n\r\n", key).http_status, 429);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 xyz nope\r\n\r\n", key).http_status, 0);
  EXPECT_EQ(parse_upgrade_response("SSH-2.0-OpenSSH\r\n\r\n", key).http_status, 0);
  EXPECT_EQ(parse_upgrade_response("HTTP/1.1 503 Serv", key).http_status, 0) << "not before the head is complete";
  HandshakeResult ok = parse_upgrade_response(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
      key);
  EXPECT_EQ(ok.status, ParseStatus::kDone);
  EXPECT_EQ(ok.http_status, 101);
}

TEST(LoadWsClient, MaskedFramesRoundTripAtEveryLengthEncoding) {
  for (size_t len : {size_t(0), size_t(1), size_t(125), size_t(126), size_t(65535), size_t(65536), size_t(200000)}) {
    std::string payload(len, '\0');
    for (size_t i = 0; i < len; ++i) payload[i] = char(i * 31 + 7);
    std::string out = "prefix";
    encode_frame(out, WsOp::kBinary, payload, 0xa1b2c3d4);
    ASSERT_EQ(out.rfind("prefix", 0), 0u);
    uint8_t first = 0;
    size_t consumed = 0;
    EXPECT_EQ(unmask(out.substr(6), first, consumed), payload) << len;
    EXPECT_EQ(first, 0x82);
    EXPECT_EQ(consumed, out.size() - 6);
    size_t expect_header = len < 126 ? 6 : (len <= 0xffff ? 8 : 14);  // minimal length encoding
    EXPECT_EQ(out.size() - 6, expect_header + len);
  }
  std::string f;
  encode_frame(f, WsOp::kText, "abc", 0, /*fin=*/false);
  EXPECT_EQ(uint8_t(f[0]), 0x01);  // no FIN
}

TEST(LoadWsClient, DecodesServerFramesAtEverySplitPoint) {
  for (size_t len : {size_t(0), size_t(5), size_t(300), size_t(70000)}) {
    std::string payload(len, 'p');
    std::string f = server_frame(0x82, payload);
    for (size_t cut = 0; cut < f.size(); cut += (cut < 20 ? 1 : 997))
      EXPECT_EQ(decode_frame(bytes(f.substr(0, cut)), 1 << 20).status, ParseStatus::kNeedMore) << len << "/" << cut;
    DecodeResult r = decode_frame(bytes(f + "trailing"), 1 << 20);
    ASSERT_EQ(r.status, ParseStatus::kDone);
    EXPECT_TRUE(r.header.fin);
    EXPECT_EQ(r.header.op, WsOp::kBinary);
    EXPECT_EQ(r.header.payload_len, len);
    EXPECT_EQ(r.header.header_len + len, f.size());
  }
}

TEST(LoadWsClient, DecodeErrors) {
  struct Case {
    std::string frame, why;
  } cases[] = {
      {server_frame(0xc1, "x"), "reserved"},
      {server_frame(0x83, "x"), "opcode"},
      {std::string("\x81\x81\x00\x00\x00\x00x", 7), "masked"},
      {server_frame(0x09, "x"), "control"},                   // fragmented ping
      {server_frame(0x89, std::string(126, 'x')), "control"}, // oversized ping
      {std::string("\x82\x7e\x00\x05hello", 9), "non-minimal"},
      {server_frame(0x82, std::string(2000, 'x')), "limit"},
  };
  for (const Case& c : cases) {
    DecodeResult r = decode_frame(bytes(c.frame), 1000);
    EXPECT_EQ(r.status, ParseStatus::kError) << c.why;
    ASSERT_NE(r.error, nullptr) << c.why;
    EXPECT_NE(std::string(r.error).find(c.why), std::string::npos) << r.error;
  }
}

TEST(LoadWsClient, ClosePayload) {
  uint16_t code = 0;
  EXPECT_TRUE(parse_close_payload({}, code));
  EXPECT_EQ(code, 1005);
  const uint8_t going_away[] = {0x03, 0xe9, 'b', 'y', 'e'};
  EXPECT_TRUE(parse_close_payload(going_away, code));
  EXPECT_EQ(code, 1001);
  const uint8_t one[] = {0x03};
  EXPECT_FALSE(parse_close_payload(one, code));
}
