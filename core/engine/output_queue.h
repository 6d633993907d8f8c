// What a connection has to send: references to shared frames, in order. A connection owns
// a queue only while something is queued (an idle connection holds a 4-byte handle of 0),
// and the frames themselves are shared by every recipient (DESIGN.md: one copy per message).
//
// At most one send is in progress per connection; it may carry many frames (gather()), and
// the kernel may take only part of them (consume() resumes at the right frame and offset).
// Frames being sent stay referenced until the send completes: the kernel reads them.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "alloc/shared_frame.h"
#include "alloc/slab.h"

namespace ringws {

class OutputQueues {
 public:
  /// `max_frames`: frames queued at once in the reactor (address space only, see Slab);
  /// `max_queues`: connections with something queued at once.
  OutputQueues(uint32_t max_frames, uint32_t max_queues);
  ~OutputQueues();
  OutputQueues(const OutputQueues&) = delete;
  OutputQueues& operator=(const OutputQueues&) = delete;

  enum class Push {
    kQueued,
    kOverCap,   ///< would pass `cap`: the frame was released, the caller closes with 1008
    kNoMemory,  ///< no node or queue record left: the frame was released
  };

  /// Appends `frame` (taking its reference) to the queue behind `handle` (0: none yet).
  /// The cap counts what is already waiting: a frame always fits into an empty queue, so
  /// a connection holds at most max(cap, one frame). `exempt` frames (a close frame, an HTTP
  /// response: the last word) ignore the cap.
  Push push(uint32_t& handle, SharedFrame* frame, uint64_t cap, bool exempt = false);
  /// Queues a pong: a pong that waits and is not yet part of a send is replaced by this
  /// one (RFC 6455 5.5.3 allows answering only the latest ping), so a client that pings
  /// without reading cannot grow the queue. Counted against the cap like any frame.
  Push push_pong(uint32_t& handle, SharedFrame* frame, uint64_t cap);

  /// Fills `iov` with the unsent bytes from the head, at most `max_iov` frames and about
  /// `max_bytes` (a frame is never split to fit, unless it is the first); returns the
  /// count of iovecs and the bytes in `bytes`. A pending pong gathered here is committed.
  size_t gather(uint32_t handle, iovec* iov, size_t max_iov, size_t max_bytes, size_t& bytes);
  /// Marks `bytes` as handed to a send that completes later (io_uring): drop_unsent()
  /// keeps them.
  void set_in_flight(uint32_t handle, size_t bytes);
  /// `bytes` left the socket: frames fully sent are released (a release that drops a
  /// frame's last reference calls `on_last(origin_ns)` when the frame has an origin time,
  /// for the delivery-latency figure), the
  /// in-flight mark is cleared, and an emptied queue goes back (handle becomes 0).
  template <typename OnLast>
  void consume(uint32_t& handle, size_t bytes, OnLast on_last);
  /// Releases every frame not in flight (a slow consumer's backlog). Keeps the handle.
  void drop_unsent(uint32_t& handle);
  /// Releases everything (the connection is gone and no send is in flight).
  void clear(uint32_t& handle);

  uint64_t queued_bytes(uint32_t handle) const;
  bool empty(uint32_t handle) const { return handle == 0; }
  uint32_t frames_in_use() const { return nodes_.live_count(); }

 private:
  struct Node {
    SharedFrame* frame = nullptr;
    uint32_t next = kNoSlot;
  };
  struct Queue {
    uint32_t head = kNoSlot;
    uint32_t tail = kNoSlot;
    uint32_t offset = 0;     ///< bytes of the head frame already sent
    uint32_t in_flight = 0;  ///< bytes handed to a send not yet completed
    uint64_t queued = 0;     ///< bytes queued and not yet sent (in flight included)
    uint32_t pong = kNoSlot; ///< the pending pong's node, until a send takes it
  };
  Queue& queue(uint32_t handle) { return *queues_.get(handle - 1); }
  const Queue* find(uint32_t handle) const;
  Push append(uint32_t& handle, SharedFrame* frame, bool is_pong);
  void free_nodes(uint32_t node);

  Slab<Node> nodes_;
  Slab<Queue> queues_;
};

template <typename OnLast>
void OutputQueues::consume(uint32_t& handle, size_t bytes, OnLast on_last) {
  if (handle == 0) return;
  Queue& q = queue(handle);
  q.in_flight = 0;
  q.queued -= bytes;
  while (q.head != kNoSlot) {
    Node& n = *nodes_.get(q.head);
    size_t left = n.frame->size() - q.offset;
    if (bytes < left) {
      q.offset += static_cast<uint32_t>(bytes);
      return;
    }
    bytes -= left;
    q.offset = 0;
    uint32_t next = n.next;
    if (q.pong == q.head) q.pong = kNoSlot;
    SharedFrame* frame = n.frame;
    nodes_.free(q.head);
    q.head = next;
    uint64_t origin = frame->origin_ns();  // read before the release that may free it
    if (frame->release() && origin) on_last(origin);
  }
  q.tail = kNoSlot;
  queues_.free(handle - 1);
  handle = 0;
}

}  // namespace ringws
