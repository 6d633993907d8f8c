#include "core/byte_size.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace ringws {
namespace {

uint64_t parsed(const char* text) {
  uint64_t v = 12345;
  EXPECT_TRUE(parse_size(text, v)) << text;
  return v;
}

void refused(const char* text) {
  uint64_t v = 12345;
  EXPECT_FALSE(parse_size(text, v)) << text;
  EXPECT_EQ(v, 12345u) << "a refused value leaves the output alone: " << text;
}

TEST(ParseSize, PlainBytes) {
  EXPECT_EQ(parsed("0"), 0u);
  EXPECT_EQ(parsed("1"), 1u);
  EXPECT_EQ(parsed("209715200"), 209715200u);
  EXPECT_EQ(parsed("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, DecimalUnits) {
  EXPECT_EQ(parsed("64K"), 64000u);
  EXPECT_EQ(parsed("200M"), 200000000u);
  EXPECT_EQ(parsed("4G"), 4000000000u);
  EXPECT_EQ(parsed("2T"), 2000000000000u);
}

TEST(ParseSize, BinaryUnits) {
  EXPECT_EQ(parsed("64Ki"), 65536u);
  EXPECT_EQ(parsed("200Mi"), 200u << 20);
  EXPECT_EQ(parsed("4Gi"), 4ull << 30);
  EXPECT_EQ(parsed("3Ti"), 3ull << 40);
  EXPECT_EQ(parsed("0Gi"), 0u);
}

TEST(ParseSize, Overflow) {
  refused("18446744073709551616");  // 2^64
  refused("99999999999999999999999");
  refused("18446744073709552K");    // 1.8e19 * 1000
  refused("16777216Ti");            // 2^24 * 2^40 = 2^64
  EXPECT_EQ(parsed("16777215Ti"), 16777215ull << 40);
}

TEST(ParseSize, Junk) {
  refused("");
  refused("M");
  refused("Mi");
  refused("-1");
  refused("+1");
  refused(" 1");
  refused("1 ");
  refused("1 M");
  refused("1.5G");
  refused("0x10");
  refused("1MB");
  refused("1MiB");
  refused("1i");
  refused("1KiB");
  refused("1P");
  refused("1MM");
}

TEST(ParseSize, LowerCaseUnitsAreRefused) {
  // Docker's 512m is MiB, Kubernetes' 512m is 0.512 bytes: neither is guessed.
  refused("512m");
  refused("1k");
  refused("1ki");
  refused("1g");
  refused("1gi");
}

}  // namespace
}  // namespace ringws
