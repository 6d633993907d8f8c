// The one place that encodes and decodes io_uring user_data (STYLE.md habit 2).
//
//   bits 56-63  op
//   bits 40-55  generation of the connection slot (16 bits)
//   bits  0-31  connection slot index
//
// Ops that carry a pointer (a frame sent to another reactor) use bits 0-47 for it: x86-64
// and arm64 user-space addresses fit in 47 bits. A completion whose generation no longer
// matches its slot is late (the slot was reused) and is dropped.
#pragma once

#include <cstdint>

namespace ringws {

enum class Op : uint8_t {
  kAccept = 1,   ///< multishot accept on the reactor's listener
  kPoll,         ///< multishot POLLIN on an idle connection
  kRecv,         ///< a receive with buffer select
  kSend,         ///< the one send (a sendmsg of every queued frame) in flight on a connection
  kClose,        ///< close of a direct descriptor
  kPeerAddress,  ///< FIXED_FD_INSTALL of a new connection, to read its peer address
  kShutdown,     ///< the half-close of a lingering close
  kUntracked,    ///< cancel, shutdown, close of a refused accept: the completion means nothing
  kTick,         ///< an absolute timeout at the engine's next wakeup (wheel tick, drain batch)
  kWake,         ///< read on the reactor's eventfd (the main thread's stop requests)
  kCrossFrame,   ///< a broadcast frame posted by another reactor (MSG_RING)
  kCrossSent,    ///< completion of our MSG_RING on the sender's side
  kFdWatch,      ///< a one-shot poll on a descriptor the app watches (index: the watch)
  kAcceptAdmin,  ///< multishot accept on the admin listener (one reactor has it)
};

inline uint64_t encode_conn(Op op, uint32_t index, uint16_t generation) {
  return (uint64_t(op) << 56) | (uint64_t(generation) << 40) | index;
}
inline uint64_t encode_ptr(Op op, const void* p, uint8_t extra = 0) {
  return (uint64_t(op) << 56) | (uint64_t(extra) << 48) | (reinterpret_cast<uintptr_t>(p) & ((1ull << 48) - 1));
}
inline uint64_t encode_op(Op op) { return uint64_t(op) << 56; }

inline Op op_of(uint64_t user_data) { return static_cast<Op>(user_data >> 56); }
inline uint32_t index_of(uint64_t user_data) { return static_cast<uint32_t>(user_data); }
inline uint16_t generation_of(uint64_t user_data) { return static_cast<uint16_t>(user_data >> 40); }
inline uint8_t extra_of(uint64_t user_data) { return static_cast<uint8_t>(user_data >> 48); }
template <typename T>
T* pointer_of(uint64_t user_data) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(user_data & ((1ull << 48) - 1)));
}

}  // namespace ringws
