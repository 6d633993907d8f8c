#include "proto/base64url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringws {
namespace {

using namespace std::literals;

std::string decode(std::string_view in, bool* ok = nullptr) {
  std::vector<uint8_t> out(in.size());
  size_t n = base64url_decode(in, out);
  if (ok) *ok = n != SIZE_MAX;
  if (n == SIZE_MAX) return "<invalid>";
  return std::string(out.begin(), out.begin() + static_cast<long>(n));
}

TEST(Base64Url, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 70; ++i) {
    std::string enc;
    base64url_encode(bytes, enc);
    EXPECT_EQ(enc.find_first_of("=+/"), std::string::npos) << enc;
    EXPECT_EQ(base64url_decoded_size(enc.size()), bytes.size());
    bool ok = false;
    EXPECT_EQ(decode(enc, &ok), bytes);
    EXPECT_TRUE(ok);
    bytes.push_back(static_cast<char>(i * 37 + 251));
  }
}

TEST(Base64Url, KnownVectors) {
  // RFC 4648 section 10, in the URL alphabet and without padding.
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("Zg"), "f");
  EXPECT_EQ(decode("Zm8"), "fo");
  EXPECT_EQ(decode("Zm9v"), "foo");
  EXPECT_EQ(decode("Zm9vYmE"), "fooba");
  EXPECT_EQ(decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode("-_8"), "\xfb\xff");
}

TEST(Base64Url, RefusesWhatIsNotCanonicalUnpaddedBase64Url) {
  const std::string_view cases[] = {"Zg==",  "Zm8=", "+_8", "/_8",  "Zm9v YmFy", "Zm9v\nYmFy", "Z",
                                    "Zm9vY", "Zh",   "Zm9", "Zm9w", "Zm\x80v",   "Zm9v.",      "Zm9v\0"sv};
  for (std::string_view bad : cases) {
    bool ok = true;
    decode(bad, &ok);
    // "Zm9w" is canonical (three whole bytes): only the others are refused.
    if (bad == "Zm9w") {
      EXPECT_TRUE(ok);
    } else {
      EXPECT_FALSE(ok) << "accepted " << bad;
    }
  }
  // A last character with non-zero unused bits: "Zh" would be "f" with a stray bit.
  EXPECT_EQ(decode("Zg"), "f");
  bool ok = true;
  decode("Zh", &ok);
  EXPECT_FALSE(ok);
  decode("Zm9", &ok);  // "fo" needs its last 2 bits zero: '9' = 61 has them set
  EXPECT_FALSE(ok);
}

TEST(Base64Url, RefusesAnOutputBufferTooSmall) {
  uint8_t out[2];
  EXPECT_EQ(base64url_decode("Zm9v", out), SIZE_MAX);
  EXPECT_EQ(base64url_decode("Zm8", out), 2u);
}

}  // namespace
}  // namespace ringws
