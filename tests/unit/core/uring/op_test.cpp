#include "core/uring/op.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace ringws {
namespace {

TEST(Op, ConnectionFieldsRoundTrip) {
  for (uint32_t index : {0u, 1u, 19999u, 0xfffffffeu}) {
    for (uint16_t gen : {uint16_t{0}, uint16_t{1}, uint16_t{0xffff}}) {
      uint64_t ud = encode_conn(Op::kSend, index, gen);
      EXPECT_EQ(op_of(ud), Op::kSend);
      EXPECT_EQ(index_of(ud), index);
      EXPECT_EQ(generation_of(ud), gen);
    }
  }
}

TEST(Op, DifferentGenerationsGiveDifferentUserData) {
  // A late CQE for a reused slot must not match the new occupant's operations.
  EXPECT_NE(encode_conn(Op::kPoll, 7, 1), encode_conn(Op::kPoll, 7, 2));
  EXPECT_NE(encode_conn(Op::kPoll, 7, 1), encode_conn(Op::kSend, 7, 1));
}

TEST(Op, HeapPointerAndExtraRoundTrip) {
  void* p = std::malloc(64);
  uint64_t ud = encode_ptr(Op::kCrossSent, p, 5);
  EXPECT_EQ(op_of(ud), Op::kCrossSent);
  EXPECT_EQ(pointer_of<void>(ud), p);
  EXPECT_EQ(extra_of(ud), 5);
  std::free(p);
}

}  // namespace
}  // namespace ringws
