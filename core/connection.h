// The state of one connection: a slot in its reactor's slab. Everything an idle connection
// costs in user space is this struct plus the slab's per-slot bookkeeping; a static_assert
// holds it to the budget.
#pragma once

#include <cstdint>

#include "core/timer_wheel.h"

namespace ringws {

class SharedFrame;
class ReaderState;

/// A connection as apps and logs name it: slot index plus the slot's generation, so an id
/// kept after the connection closed never reaches the slot's next occupant.
struct ConnId {
  uint32_t index;
  uint16_t generation;
  uint64_t value() const { return (uint64_t(generation) << 32) | index; }
};

enum class ConnState : uint8_t {
  kHandshake,  ///< waiting for the HTTP request
  kOpen,       ///< WebSocket open
  kClosing,    ///< our close frame or final HTTP response is queued or sent
  kTeardown,   ///< cancel and close submitted; freed when its last operation completes
};

enum ConnFlag : uint8_t {
  kPollArmed = 1 << 0,     ///< multishot POLLIN armed: the cheap wait for an idle connection
  kRecvInFlight = 1 << 1,  ///< one receive submitted
  kRecvAgain = 1 << 2,     ///< readable again while the receive was in flight
  kSendInFlight = 1 << 3,  ///< exactly one send in flight (two could interleave)
  kPingSent = 1 << 4,      ///< a keep-alive ping is unanswered
  kParked = 1 << 5,        ///< waiting for receive buffers (-ENOBUFS)
  kCloseAfterSend = 1 << 6,///< tear down once the send queue is empty
  kCloseReceived = 1 << 7, ///< the peer's close frame arrived
};

/// One queued outgoing frame; nodes live in the reactor's slab, linked by index.
struct SendNode {
  SharedFrame* frame = nullptr;
  uint32_t next = 0xffffffffu;
};

/// Bytes of the request head received so far; lent from the heap only during the
/// handshake and sized to the configured limit.
struct HandshakeBuffer {
  uint32_t length;
  char peer[48];  ///< the TCP peer's address as text, when it was looked up; else empty
  char bytes[];
};

struct Connection {
  TimerLink timer;        ///< on the reactor's wheel: handshake, ping, idle or close deadline
  uint32_t last_rx = 0;   ///< tick of the last bytes received
  union {
    HandshakeBuffer* handshake;  ///< kHandshake only
    ReaderState* reader;         ///< kOpen/kClosing: a frame or message in progress
  };
  uint32_t send_head = 0xffffffffu;  ///< SendNode indices (32-bit: 8 bytes less than pointers)
  uint32_t send_tail = 0xffffffffu;
  uint32_t send_offset = 0;   ///< bytes of the head frame already sent
  uint32_t queued_bytes = 0;  ///< bytes queued and not yet sent, capped by --max-backlog
  uint32_t client_key = 0;    ///< AddressLimits handle of the client's entry; 0: not counted
  uint32_t app_word = 0;      ///< free for the application (chat: its first room membership)
  int32_t fd = -1;            ///< the direct descriptor (an index into the ring's file table)
  ConnState state = ConnState::kHandshake;
  uint8_t flags = 0;
  uint8_t ops_in_flight = 0;  ///< submitted operations not yet completed for good
  uint8_t close_reason : 4 = 0;    ///< a CloseReason
  uint8_t upgraded : 1 = 0;        ///< counted as an open WebSocket connection
  uint8_t shutdown_pending : 1 = 0;///< a half-close is in flight: it may run in io-wq, late
  uint8_t close_deferred : 1 = 0;  ///< teardown waits for that half-close before closing

  Connection() : handshake(nullptr) {}
};

// DESIGN.md: <= 128 bytes of user space per idle connection, aim for 64. The slab adds 8
// bytes of bookkeeping per slot (free link, generation, live flag).
static_assert(sizeof(Connection) <= 56, "Connection slot grew: it is the per-connection budget");

}  // namespace ringws
