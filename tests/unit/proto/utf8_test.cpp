#include "proto/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringws {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Feeds `bytes` to a fresh stream in pieces cut at `cuts`, the last piece final; returns
// whether every piece was accepted.
bool stream(const Bytes& bytes, const std::vector<size_t>& cuts) {
  Utf8Stream s;
  size_t begin = 0;
  for (size_t cut : cuts) {
    if (!s.feed({bytes.data() + begin, cut - begin}, false)) return false;
    begin = cut;
  }
  return s.feed({bytes.data() + begin, bytes.size() - begin}, true);
}

const std::vector<Bytes>& valid_samples() {
  static const std::vector<Bytes> v = {
      b(""), b("plain ascii"), b("\x7f"),
      b("\xc2\x80"), b("\xdf\xbf"),                                   // 2 bytes, ends of range
      b("\xe0\xa0\x80"), b("\xed\x9f\xbf"), b("\xee\x80\x80"), b("\xef\xbf\xbf"),  // 3 bytes
      b("\xf0\x90\x80\x80"), b("\xf4\x8f\xbf\xbf"),                   // 4 bytes, to U+10FFFF
      b("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),             // "kosme"
      b("a\xf0\x9f\x98\x80z\xe2\x82\xac\xc3\xa9"),
  };
  return v;
}

const std::vector<Bytes>& invalid_samples() {
  static const std::vector<Bytes> v = {
      b("\x80"), b("\xbf"), b("a\x80z"),                              // lone continuations
      b("\xc0\x80"), b("\xc1\xbf"),                                   // overlong 2-byte
      b("\xe0\x80\x80"), b("\xe0\x9f\xbf"),                           // overlong 3-byte
      b("\xf0\x80\x80\x80"), b("\xf0\x8f\xbf\xbf"),                   // overlong 4-byte
      b("\xed\xa0\x80"), b("\xed\xbf\xbf"),                           // surrogates
      b("\xf4\x90\x80\x80"), b("\xf7\xbf\xbf\xbf"),                   // above U+10FFFF
      b("\xf5\x80\x80\x80"), b("\xf8\x88\x80\x80\x80"), b("\xfe"), b("\xff"),
      b("\xc2"), b("\xe2\x82"), b("\xf0\x9f\x98"), b("ok\xf0\x9f\x98"),  // truncated at end
      b("\xc2z"), b("\xe2\x82z"), b("\xf0\x9f\x98z"),                 // interrupted
      b("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"),
  };
  return v;
}

TEST(Utf8, WholeBuffers) {
  for (const Bytes& s : valid_samples()) EXPECT_TRUE(is_valid_utf8(s)) << s.size();
  for (const Bytes& s : invalid_samples()) EXPECT_FALSE(is_valid_utf8(s)) << s.size();
}

TEST(Utf8Stream, AgreesWithWholeValidationAtEverySplit) {
  std::vector<Bytes> all = valid_samples();
  all.insert(all.end(), invalid_samples().begin(), invalid_samples().end());
  for (const Bytes& s : all) {
    const bool whole = is_valid_utf8(s);
    EXPECT_EQ(stream(s, {}), whole);
    for (size_t i = 0; i <= s.size(); ++i) {
      EXPECT_EQ(stream(s, {i}), whole) << "cut at " << i;
      for (size_t j = i; j <= s.size(); ++j) {
        EXPECT_EQ(stream(s, {i, j}), whole) << "cuts at " << i << ", " << j;
      }
    }
    std::vector<size_t> bytewise;
    for (size_t i = 1; i < s.size(); ++i) bytewise.push_back(i);
    EXPECT_EQ(stream(s, bytewise), whole);
  }
}

TEST(Utf8Stream, LongTextAcrossSimdBlocks) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "x\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  const Bytes good = b(text);
  for (size_t cut = 1; cut < good.size(); cut += 13) EXPECT_TRUE(stream(good, {cut}));
  Bytes bad = good;
  bad[good.size() / 2] = 0xff;
  for (size_t cut = 1; cut < bad.size(); cut += 13) EXPECT_FALSE(stream(bad, {cut}));
}

// A piece fails as soon as its bytes cannot begin valid UTF-8, before the message ends.
TEST(Utf8Stream, FailsFastOnAPrefixThatCanNeverComplete) {
  const std::vector<Bytes> hopeless = {
      b("\xc0"), b("\xc1"), b("\xf5"), b("\xff"),         // impossible lead bytes
      b("\xe0\x80"), b("\xe0\x9f"),                       // overlong 3-byte
      b("\xed\xa0"), b("\xed\xbf"),                       // surrogates
      b("\xf0\x80"), b("\xf0\x8f"),                       // overlong 4-byte
      b("\xf4\x90"), b("\xf4\xbf"),                       // above U+10FFFF
      b("\xf0\x9f\x28"),                                  // third byte not a continuation
  };
  for (const Bytes& p : hopeless) {
    Utf8Stream s;
    EXPECT_FALSE(s.feed(p, false)) << std::hex << int(p[0]) << " len " << p.size();
    Utf8Stream after_text;
    Bytes with_text = b("valid text ");
    with_text.insert(with_text.end(), p.begin(), p.end());
    EXPECT_FALSE(after_text.feed(with_text, false));
  }
  // The same positions with bytes that can still complete are accepted until final.
  for (const Bytes& p : {b("\xc2"), b("\xe0\xa0"), b("\xed\x9f"), b("\xf0\x90"), b("\xf4\x8f"),
                         b("\xf4\x8f\xbf")}) {
    Utf8Stream s;
    EXPECT_TRUE(s.feed(p, false));
    EXPECT_FALSE(s.feed({}, true));  // incomplete at the end of the message
  }
}

TEST(Utf8Stream, CarriedCodePointFailsOnTheBadContinuation) {
  Utf8Stream s;
  EXPECT_TRUE(s.feed(b("\xf0"), false));
  EXPECT_TRUE(s.feed(b("\x9f"), false));
  EXPECT_FALSE(s.feed(b("A"), false));
  Utf8Stream t;
  EXPECT_TRUE(t.feed(b("\xf4"), false));
  EXPECT_FALSE(t.feed(b("\x90"), false));
}

TEST(Utf8Stream, ResetForgetsTheCarry) {
  Utf8Stream s;
  EXPECT_TRUE(s.feed(b("\xe2\x82"), false));
  s.reset();
  EXPECT_TRUE(s.feed(b("abc"), true));
}

}  // namespace
}  // namespace ringws
