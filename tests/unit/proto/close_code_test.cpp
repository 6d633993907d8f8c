#include "proto/close_code.h"

#include <gtest/gtest.h>

namespace ringws {
namespace {

TEST(CloseCode, ValidCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3001, 3999, 4000, 4500, 4999}) {
    EXPECT_TRUE(is_valid_close_code(code)) << code;
  }
}

TEST(CloseCode, InvalidCodes) {
  // Below the range, reserved (1004), API-only (1005, 1006, 1015), unassigned and above.
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 6000,
                        65535}) {
    EXPECT_FALSE(is_valid_close_code(code)) << code;
  }
}

TEST(CloseCode, ExactlyTheDocumentedRanges) {
  int valid = 0;
  for (uint32_t code = 0; code <= 0xffff; ++code) valid += is_valid_close_code(static_cast<uint16_t>(code));
  EXPECT_EQ(valid, 4 + 8 + 2000);  // 1000-1003, 1007-1014, 3000-4999
}

}  // namespace
}  // namespace ringws
