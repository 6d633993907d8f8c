// The state of one connection: a slot in its reactor's slab. Everything an idle connection
// costs in user space is this struct plus the slab's per-slot bookkeeping; a static_assert
// holds it to the budget (DESIGN.md: <= 128 bytes, aim for 64).
//
// The engine owns every field but two: `backend_flags` and `ops_in_flight` belong to the
// backend (io_uring or epoll), which keeps its own per-connection bits there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/timer_wheel.h"

namespace ringws {

class ReaderState;

/// A connection as apps and logs name it: slot index plus the slot's generation, so an id
/// kept after the connection closed never reaches the slot's next occupant.
struct ConnId {
  uint32_t index = 0xffffffffu;
  uint16_t generation = 0;
  uint64_t value() const { return (uint64_t(generation) << 32) | index; }
  friend bool operator==(ConnId, ConnId) = default;
};

/// Room for a connection id as text (format_conn_id): up to 12 + 1 + 2 + 1 + 8 + 1 + 4 chars.
constexpr size_t kConnIdTextSize = 32;

/// A connection's id as clients (hello.id, a message's from) and logs see it, unique across
/// instances and restarts: "<instance>.<reactor>.<slot>.<generation>", the last three in hex.
/// Returns its length.
size_t format_conn_id(char (&out)[kConnIdTextSize], const char* instance, unsigned reactor, ConnId id);

enum class ConnState : uint8_t {
  kHandshake,  ///< waiting for the HTTP request
  kOpen,       ///< WebSocket open
  kClosing,    ///< our close frame or final HTTP response is queued or sent
  kTeardown,   ///< the backend is closing it; the slot is freed once nothing names it
};

/// The engine's per-connection bits.
enum ConnFlag : uint8_t {
  kPingSent = 1 << 0,        ///< a keep-alive ping is unanswered
  kCloseAfterSend = 1 << 1,  ///< finish the close once the output queue is empty
  kCloseReceived = 1 << 2,   ///< the peer's close frame arrived
  kLimited = 1 << 3,         ///< accepted over a limit (memory, descriptors): no buffer is
                             ///< lent and no upgrade admitted; only a plain GET that arrives
                             ///< whole in one read is answered
  kSendPending = 1 << 4,     ///< the backend has a send in progress (one at a time)
  kFlushQueued = 1 << 5,     ///< on the engine's list of connections to flush this iteration
  kHalfClosed = 1 << 6,      ///< our side is shut down for writing (a lingering close)
  kUpgraded = 1 << 7,        ///< counted as an open WebSocket connection
};

/// Bytes of the request head received so far, lent only while a request is incomplete
/// after a read (most requests arrive whole and are parsed where they landed). It grows
/// by doubling up to --max-header-bytes.
struct HandshakeBuffer {
  uint32_t length;
  uint32_t capacity;
  char peer[48];  ///< the TCP peer's address as text, when it was looked up; else empty
  char bytes[];
};

struct Connection {
  TimerLink timer;            ///< on the reactor's wheel: handshake, ping, idle or close deadline
  uint32_t last_rx = 0;       ///< tick (rounded up) of the last bytes received

  /// What the connection has been lent, by phase: its request buffer while a request is
  /// incomplete, its framer state while a frame or message is incomplete. One pointer and
  /// a tag, read through these accessors only (never the other phase's member).
  HandshakeBuffer* handshake() const { return lent_is_reader ? nullptr : static_cast<HandshakeBuffer*>(lent); }
  ReaderState* reader() const { return lent_is_reader ? static_cast<ReaderState*>(lent) : nullptr; }
  void set_handshake(HandshakeBuffer* buffer) {
    lent = buffer;
    lent_is_reader = 0;
  }
  void set_reader(ReaderState* framer_state) {
    lent = framer_state;
    lent_is_reader = 1;
  }

  void* lent = nullptr;
  uint32_t output = 0;        ///< index + 1 of the lent OutputQueue; 0 while nothing is queued
  uint32_t client_key = 0;    ///< AddressLimits handle while counted; 0: not counted
  uint32_t app_word = 0;      ///< the application's, read through ConnId (chat: its memberships)
  int32_t fd = -1;            ///< io_uring: direct descriptor index; epoll: the socket
  ConnState state = ConnState::kHandshake;
  uint8_t flags = 0;          ///< ConnFlag
  uint8_t close_reason : 4 = 0;  ///< a CloseReason
  uint8_t admin : 1 = 0;         ///< accepted on the admin listener (/metrics, POST /admin/drain)
  uint8_t lent_is_reader : 1 = 0;  ///< `lent` holds a ReaderState (else a HandshakeBuffer)
  uint8_t backend_flags = 0;  ///< the backend's own bits
  uint8_t ops_in_flight = 0;  ///< the backend's: operations that still name the slot
  /// RateLimiter record handle, 24 bits little-endian in the slot's last three bytes; 0 while
  /// every rate-limit bucket of the connection is full (no record lent).
  uint8_t rate[3] = {0, 0, 0};

  uint32_t rate_handle() const { return rate[0] | uint32_t(rate[1]) << 8 | uint32_t(rate[2]) << 16; }
  void set_rate_handle(uint32_t h) {
    rate[0] = static_cast<uint8_t>(h);
    rate[1] = static_cast<uint8_t>(h >> 8);
    rate[2] = static_cast<uint8_t>(h >> 16);
  }
};

// The slab adds 8 bytes of bookkeeping per slot (free link, generation, live flag): 56 B
// of user space per idle connection.
static_assert(sizeof(Connection) <= 48, "Connection slot grew: it is the per-connection budget");

}  // namespace ringws
