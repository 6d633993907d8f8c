// The buffers a reactor's receives select from (IOSQE_BUFFER_SELECT): one provided-buffer
// ring per reactor, shared by all its connections, so an idle connection owns no buffer.
#pragma once

#include <liburing.h>

#include <cstdint>

namespace ringws {

class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  /// `count` buffers of `size` bytes in one allocation, registered as buffer group
  /// `group`. `count` must be a power of two. Returns 0 or -errno.
  int init(io_uring& ring, uint16_t group, uint32_t count, uint32_t size);

  uint8_t* buffer(uint16_t id) { return base_ + size_t(id) * size_; }
  uint32_t buffer_size() const { return size_; }
  uint16_t group() const { return group_; }

  /// Hands buffer `id` back to the kernel; becomes visible at the next publish().
  void recycle(uint16_t id);
  /// Publishes recycled buffers with one store (batched per loop iteration).
  void publish();
  /// Buffers recycled since the last publish().
  uint32_t pending() const { return pending_; }

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  uint8_t* base_ = nullptr;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint16_t group_ = 0;
  uint32_t pending_ = 0;
};

}  // namespace ringws
