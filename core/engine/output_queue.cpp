#include "core/engine/output_queue.h"

namespace ringws {

OutputQueues::OutputQueues(uint32_t max_frames, uint32_t max_queues) : nodes_(max_frames), queues_(max_queues) {}

OutputQueues::~OutputQueues() {
  // Whatever is still queued at exit holds frame references: give them back.
  for (uint32_t i = 0; i < queues_.high_water(); ++i)
    if (queues_.get(i)) {
      uint32_t handle = i + 1;
      clear(handle);
    }
}

const OutputQueues::Queue* OutputQueues::find(uint32_t handle) const {
  return handle == 0 ? nullptr : const_cast<Slab<Queue>&>(queues_).get(handle - 1);
}

uint64_t OutputQueues::queued_bytes(uint32_t handle) const {
  const Queue* q = find(handle);
  return q ? q->queued : 0;
}

OutputQueues::Push OutputQueues::push(uint32_t& handle, SharedFrame* frame, uint64_t cap, bool exempt) {
  uint64_t waiting = queued_bytes(handle);
  if (!exempt && waiting > 0 && waiting + frame->size() > cap) {
    frame->release();
    return Push::kOverCap;
  }
  return append(handle, frame, false);
}

OutputQueues::Push OutputQueues::push_pong(uint32_t& handle, SharedFrame* frame, uint64_t cap) {
  if (handle != 0) {
    Queue& q = queue(handle);
    if (q.pong != kNoSlot) {
      Node& n = *nodes_.get(q.pong);
      uint64_t after = q.queued - n.frame->size() + frame->size();
      if (after > cap && q.queued - n.frame->size() > 0) {
        frame->release();
        return Push::kOverCap;
      }
      q.queued = after;
      n.frame->release();
      n.frame = frame;
      return Push::kQueued;
    }
  }
  uint64_t waiting = queued_bytes(handle);
  if (waiting > 0 && waiting + frame->size() > cap) {
    frame->release();
    return Push::kOverCap;
  }
  return append(handle, frame, true);
}

OutputQueues::Push OutputQueues::append(uint32_t& handle, SharedFrame* frame, bool is_pong) {
  uint32_t node = nodes_.allocate();
  if (node == kNoSlot) {
    frame->release();
    return Push::kNoMemory;
  }
  if (handle == 0) {
    uint32_t q = queues_.allocate();
    if (q == kNoSlot) {
      nodes_.free(node);
      frame->release();
      return Push::kNoMemory;
    }
    handle = q + 1;
  }
  Queue& q = queue(handle);
  nodes_.get(node)->frame = frame;
  if (q.tail != kNoSlot)
    nodes_.get(q.tail)->next = node;
  else
    q.head = node;
  q.tail = node;
  q.queued += frame->size();
  if (is_pong) q.pong = node;
  return Push::kQueued;
}

size_t OutputQueues::gather(uint32_t handle, iovec* iov, size_t max_iov, size_t max_bytes, size_t& bytes) {
  bytes = 0;
  if (handle == 0) return 0;
  Queue& q = queue(handle);
  size_t count = 0;
  uint32_t offset = q.offset;
  for (uint32_t n = q.head; n != kNoSlot && count < max_iov; n = nodes_.get(n)->next) {
    SharedFrame* frame = nodes_.get(n)->frame;
    size_t len = frame->size() - offset;
    if (count > 0 && bytes + len > max_bytes) break;
    iov[count].iov_base = frame->data() + offset;
    iov[count].iov_len = len;
    ++count;
    bytes += len;
    offset = 0;
    // A pong handed to a send can no longer be replaced: the next ping queues a new one.
    if (n == q.pong) q.pong = kNoSlot;
  }
  return count;
}

void OutputQueues::set_in_flight(uint32_t handle, size_t bytes) {
  if (handle != 0) queue(handle).in_flight = static_cast<uint32_t>(bytes);
}

void OutputQueues::free_nodes(uint32_t node) {
  while (node != kNoSlot) {
    Node& n = *nodes_.get(node);
    uint32_t next = n.next;
    n.frame->release();
    nodes_.free(node);
    node = next;
  }
}

void OutputQueues::drop_unsent(uint32_t& handle) {
  if (handle == 0) return;
  Queue& q = queue(handle);
  // Keep the frames that hold the in-flight bytes; release the rest.
  uint32_t keep_last = kNoSlot;
  uint64_t covered = 0;
  uint32_t offset = q.offset;
  // A head frame partly written must be finished whatever is in flight: a frame cut short
  // would corrupt the stream before the close frame that follows.
  for (uint32_t n = q.head; n != kNoSlot && (covered < q.in_flight || (n == q.head && q.offset > 0));
       n = nodes_.get(n)->next) {
    covered += nodes_.get(n)->frame->size() - offset;
    offset = 0;
    keep_last = n;
  }
  uint32_t drop = keep_last == kNoSlot ? q.head : nodes_.get(keep_last)->next;
  if (keep_last == kNoSlot) {
    q.head = q.tail = kNoSlot;
    q.offset = 0;
  } else {
    nodes_.get(keep_last)->next = kNoSlot;
    q.tail = keep_last;
  }
  q.pong = kNoSlot;
  free_nodes(drop);
  q.queued = keep_last == kNoSlot ? 0 : covered;
  if (q.head == kNoSlot) {
    queues_.free(handle - 1);
    handle = 0;
  }
}

void OutputQueues::clear(uint32_t& handle) {
  if (handle == 0) return;
  free_nodes(queue(handle).head);
  queues_.free(handle - 1);
  handle = 0;
}

}  // namespace ringws
