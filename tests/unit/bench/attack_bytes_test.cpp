// The bytes of ringws-load's hostile modes: ping bursts that a server decodes as whole masked
// pings, a request head that never ends, half requests, and partial frames whose header
// declares more than follows.
#include "bench/load/attack_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "bench/load/ws_client.h"

using namespace ringws::load;

namespace {

struct ClientFrame {
  bool fin = false, masked = false;
  uint8_t op = 0;
  uint64_t declared = 0;  // the length the header declares
  size_t header = 0;      // header bytes, mask included
  std::string payload;    // unmasked, as much as is present
};

// Reads one client frame as a server would: header, mask, and the payload bytes present.
ClientFrame read_client_frame(const std::string& s, size_t at = 0) {
  const auto* b = reinterpret_cast<const uint8_t*>(s.data()) + at;
  ClientFrame f;
  f.fin = b[0] & 0x80;
  f.op = b[0] & 0x0f;
  f.masked = b[1] & 0x80;
  uint64_t len = b[1] & 0x7f;
  size_t h = 2;
  if (len == 126) {
    len = (uint64_t(b[2]) << 8) | b[3];
    h = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
    h = 10;
  }
  const uint8_t* mask = b + h;
  h += 4;
  f.declared = len;
  f.header = h;
  size_t present = std::min<uint64_t>(len, s.size() - at - h);
  f.payload.resize(present);
  for (size_t i = 0; i < present; ++i) f.payload[i] = char(b[h + i] ^ mask[i & 3]);
  return f;
}

}  // namespace

TEST(LoadAttackBytes, PingBurstIsWholeMaskedPings) {
  for (size_t payload : {size_t(0), size_t(1), size_t(125)}) {
    std::string burst = make_ping_burst(payload, 7, 0xa1b2c3d4);
    ASSERT_EQ(burst.size(), 7 * ping_frame_size(payload)) << payload;
    for (size_t i = 0; i < 7; ++i) {
      ClientFrame f = read_client_frame(burst, i * ping_frame_size(payload));
      EXPECT_TRUE(f.fin);
      EXPECT_TRUE(f.masked) << "client frames must be masked";
      EXPECT_EQ(f.op, uint8_t(WsOp::kPing));
      EXPECT_EQ(f.declared, payload);
      EXPECT_EQ(f.payload, std::string(payload, 'p'));
    }
  }
  EXPECT_EQ(ping_frame_size(125), 131u);
}

TEST(LoadAttackBytes, HalfRequestLacksOnlyTheFinalCrlf) {
  std::string full = make_upgrade_request("h:1", "/ws?room=a", "dGhlIHNhbXBsZSBub25jZQ==");
  std::string half = make_half_request("h:1", "/ws?room=a", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(half + "\r\n", full);
  EXPECT_TRUE(half.ends_with("\r\n"));
  EXPECT_EQ(half.find("\r\n\r\n"), std::string::npos) << "the head must never end";
  // A client's 101 check never sees a complete head from it either.
  EXPECT_EQ(parse_upgrade_response(half, "x").status, ParseStatus::kNeedMore);
}

TEST(LoadAttackBytes, SlowlorisHeadNeverEnds) {
  std::string head = make_half_request("h:1", "/", "dGhlIHNhbXBsZSBub25jZQ==");
  std::string sent;
  for (uint64_t i = 0; i < head.size() + 10'000; ++i) sent += slowloris_byte(head, i);
  EXPECT_TRUE(sent.starts_with(head));
  EXPECT_EQ(sent.find("\r\n\r\n"), std::string::npos) << "a blank line would end the head";
  // After the request, whole header lines of filler.
  std::string after = sent.substr(head.size(), 32);
  EXPECT_EQ(after, "X-Slowloris: x\r\nX-Slowloris: x\r\n");
}

TEST(LoadAttackBytes, PartialRequestIsAPrefix) {
  std::string full = make_upgrade_request("h:1", "/", "dGhlIHNhbXBsZSBub25jZQ==");
  std::string part = make_partial_request("h:1", "/", "dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_FALSE(part.empty());
  EXPECT_LT(part.size(), full.size());
  EXPECT_TRUE(full.starts_with(part));
}

TEST(LoadAttackBytes, PartialMessageDeclaresMoreThanFollows) {
  struct Case {
    uint64_t size, tail;
    size_t header;
  } cases[] = {{1, 1, 6}, {100, 1, 6}, {125, 125, 6}, {126, 1, 8}, {65535, 10, 8}, {65536, 1, 14}, {1 << 20, 1, 14},
               {1 << 20, 1 << 20, 14}};
  for (const Case& c : cases) {
    std::string bytes = make_partial_message(c.size, c.tail, 0x01020304);
    ASSERT_EQ(bytes.size(), c.header + c.size - c.tail) << c.size << " " << c.tail;
    ClientFrame f = read_client_frame(bytes);
    EXPECT_TRUE(f.fin);
    EXPECT_TRUE(f.masked);
    EXPECT_EQ(f.op, uint8_t(WsOp::kBinary));
    EXPECT_EQ(f.header, c.header) << "minimal length encoding for " << c.size;
    EXPECT_EQ(f.declared, c.size);
    EXPECT_EQ(f.payload, std::string(c.size - c.tail, 'm'));
  }
}
