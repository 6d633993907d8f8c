#include "proto/ws_accept.h"

#include <gtest/gtest.h>

#include <string>

namespace ringws {
namespace {

std::string accept_of(std::string_view key) {
  char out[kWebSocketAcceptLength];
  websocket_accept(key, out);
  return std::string(out, kWebSocketAcceptLength);
}

TEST(WebSocketAccept, MatchesTheRfc6455Example) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(accept_of("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketAccept, MatchesAnIndependentReference) {
  // Reference values from Python's hashlib and base64.
  EXPECT_EQ(accept_of("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(WebSocketAccept, LongKeyTakesTheStreamingPathAndStillMatches) {
  // 200 bytes do not fit the stack buffer of the one-shot path.
  EXPECT_EQ(accept_of(std::string(200, 'k')), "HXr7Nbki1tHdEVpq+a7G7IV4VJU=");
}

TEST(WebSocketAccept, DifferentKeysGiveDifferentValues) {
  EXPECT_NE(accept_of("dGhlIHNhbXBsZSBub25jZQ=="), accept_of("AAAAAAAAAAAAAAAAAAAAAA=="));
}

TEST(WebSocketKey, AcceptsBase64OfSixteenBytes) {
  EXPECT_TRUE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(is_valid_websocket_key("x3JJHMbDL1EzLkh9GBhXDw=="));
  EXPECT_TRUE(is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(is_valid_websocket_key("/////////////////////w=="));  // 16 x 0xff
  EXPECT_TRUE(is_valid_websocket_key("++++++++++++++++++++Kg=="));
}

TEST(WebSocketKey, RejectsWrongLengths) {
  EXPECT_FALSE(is_valid_websocket_key(""));
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));     // unpadded
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQAB"));   // 18 bytes, no padding
}

TEST(WebSocketKey, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZ-=="));  // base64url
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25j_Q=="));
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25j Q=="));
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBu=25jZQ=="));  // padding inside
  EXPECT_FALSE(is_valid_websocket_key(std::string_view("dGhlIHNhbXBsZSBub25j\0Q==", 24)));
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=A"));
}

TEST(WebSocketKey, RejectsStrayBitsBeforeThePadding) {
  // 'R' is 17: its low bits would belong to a 17th byte.
  EXPECT_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZR=="));
  EXPECT_FALSE(is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAB=="));
  EXPECT_FALSE(is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAA/=="));
}

}  // namespace
}  // namespace ringws
