// The io_uring backend's bits in Connection::backend_flags, shared by its two files.
#pragma once

#include <cstdint>

#include "core/engine/connection.h"

namespace ringws::uring {

enum UringFlag : uint8_t {
  kPollArmed = 1 << 0,        ///< multishot POLLIN armed: the cheap wait for an idle connection
  kRecvInFlight = 1 << 1,     ///< one receive submitted
  kRecvAgain = 1 << 2,        ///< readable again while the receive was in flight
  kParked = 1 << 3,           ///< waiting for receive buffers (-ENOBUFS)
  kSendInFlight = 1 << 4,     ///< the one sendmsg in flight
  kShutdownPending = 1 << 5,  ///< a half-close is in flight: it may run in io-wq, late
  kCloseDeferred = 1 << 6,    ///< the close waits for that half-close
};

inline void clear_flag(Connection& c, uint8_t flag) { c.backend_flags = static_cast<uint8_t>(c.backend_flags & ~flag); }

}  // namespace ringws::uring
