// The WebSocket framer (RFC 6455, server side), ours, over wslay's frame layer.
//
// DESIGN.md: wslay's event API keeps ~8.7 KB per connection and copies every message, so it
// is not used. A connection that is between messages owns nothing here: its handle is a
// null ReaderState*. When bytes arrive, feed() borrows a ReaderState (a wslay frame context
// plus message-assembly state) from the reactor's FramerPool, and gives it back as soon as
// the bytes fed end on a frame boundary with no fragmented message in progress, which is
// the case for nearly every read of an idle or lightly loaded connection.
//
// Message assembly, UTF-8, close codes and limits are ours (wslay 1.1.1's event layer gets
// several of them wrong). Failures carry the close code the server must send: 1002
// protocol error, 1007 invalid UTF-8, 1009 message too big, 1013 when the owner's memory gate
// refuses a buffer, and 1011 when out of memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "alloc/shared_frame.h"

namespace ringws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xa,
};

/// Receives what one connection's bytes decode to. One sink serves a whole reactor
/// (behaviour per context, STYLE.md habit 8); every hook carries the `conn` value the
/// caller passed to FramerPool::feed, as uWebSockets passes its `user` pointer. Payload
/// spans are valid only during the call.
class FrameSink {
 public:
  /// A complete text (UTF-8 already validated) or binary message.
  virtual void on_message(uint64_t conn, Opcode opcode, std::span<const uint8_t> payload) = 0;
  virtual void on_ping(uint64_t conn, std::span<const uint8_t> payload) = 0;
  virtual void on_pong(uint64_t conn, std::span<const uint8_t> payload) = 0;
  /// A valid close frame: `code` is 1005 when the frame had no payload; `reason` is UTF-8.
  virtual void on_close(uint64_t conn, uint16_t code, std::string_view reason) = 0;

 protected:
  ~FrameSink() = default;
};

/// Lets the framer's owner see and refuse the memory it lends: a ReaderState for a frame
/// that spans reads, and message-assembly buffers. A memory governor refuses growth above
/// its high-water mark; the connection then fails with 1013 (Try Again Later).
class MemoryGate {
 public:
  /// `bytes` more are about to be lent; false refuses them.
  virtual bool may_lend(size_t bytes) = 0;
  /// `bytes` were lent (negative: given back).
  virtual void lent(int64_t bytes) = 0;

 protected:
  ~MemoryGate() = default;
};

struct FramerLimits {
  uint64_t max_message = 1u << 20;  ///< bytes of one message, across all its fragments
  MemoryGate* gate = nullptr;       ///< none: lend whatever the limits allow
};

enum class FeedStatus {
  kOk,      ///< all bytes consumed; more may follow
  kClosed,  ///< a close frame was delivered; bytes after it were ignored
  kFail,    ///< the connection must be failed with `close_code`
};

struct FeedResult {
  FeedStatus status = FeedStatus::kOk;
  uint16_t close_code = 0;  ///< with kFail: 1002, 1007, 1009, 1013 when the gate refused
                            ///< memory, or 1011 when out of memory
};

class ReaderState;  // a wslay frame context and the state of a message in progress

class FramerPool {
 public:
  /// `keep_free`: how many idle ReaderStates the pool keeps for reuse; more are freed.
  explicit FramerPool(FramerLimits limits = {}, size_t keep_free = 64);
  ~FramerPool();
  FramerPool(const FramerPool&) = delete;
  FramerPool& operator=(const FramerPool&) = delete;

  /// Decodes `bytes` received on one connection whose handle is `state` (null while the
  /// connection has nothing in progress), calling `sink` for each complete message and
  /// control frame in order. On return `state` is null again unless a frame or a
  /// fragmented message is still incomplete. After kClosed or kFail, `state` is null and
  /// the connection must not be fed again.
  FeedResult feed(ReaderState*& state, std::span<const uint8_t> bytes, FrameSink& sink, uint64_t conn = 0);

  /// Gives back the state of a connection that closes with something in progress.
  void release(ReaderState*& state);

  size_t lent() const { return lent_; }
  size_t pooled() const { return free_.size() + (reserve_ ? 1 : 0); }
  const FramerLimits& limits() const { return limits_; }

 private:
  ReaderState* acquire();
  void destroy(ReaderState* s);
  /// Takes `state` back (nulling it): pooled if clean and there is room, freed otherwise.
  void recycle(ReaderState*& state);
  FramerLimits limits_;
  size_t keep_free_;
  size_t lent_ = 0;
  std::vector<ReaderState*> free_;
  /// One idle state kept aside: lent for a single feed() when the gate refuses a new one,
  /// so that complete frames are still decoded while memory is short.
  ReaderState* reserve_ = nullptr;
};

/// Bytes of the header of an unmasked server frame carrying `payload_length` bytes: 2..10.
size_t frame_header_size(uint64_t payload_length);

/// Writes the header of an unmasked server frame (FIN set unless `fin` is false) and
/// returns its length.
size_t write_frame_header(uint8_t* out, Opcode opcode, uint64_t payload_length, bool fin = true);

/// A complete unmasked server frame holding `payload`, ready to queue for any number of
/// connections; nullptr if out of memory.
SharedFrame* make_frame(Opcode opcode, std::span<const uint8_t> payload);

/// A text frame holding `text` (the caller vouches that it is UTF-8).
SharedFrame* make_text_frame(std::string_view text);

/// A close frame with `code` and `reason` (truncated so the payload fits 125 bytes on a
/// UTF-8 boundary). Code 1005 means "no status" and produces an empty payload.
SharedFrame* make_close_frame(uint16_t code, std::string_view reason = {});

}  // namespace ringws
