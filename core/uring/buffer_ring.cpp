#include "core/uring/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

namespace ringws {

BufferRing::~BufferRing() {
  if (br_) {
    io_uring_unregister_buf_ring(ring_, group_);
    munmap(br_, sizeof(io_uring_buf) * count_);
  }
  if (base_) munmap(base_, size_t(count_) * size_);
}

int BufferRing::init(io_uring& ring, uint16_t group, uint32_t count, uint32_t size) {
  ring_ = &ring;
  group_ = group;
  count_ = count;
  size_ = size;
  // liburing 2.3 lacks io_uring_setup_buf_ring: map the ring ourselves (page aligned).
  void* r = mmap(nullptr, sizeof(io_uring_buf) * count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return -errno;
  br_ = static_cast<io_uring_buf_ring*>(r);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof reg);
  reg.ring_addr = reinterpret_cast<uintptr_t>(br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int ret = io_uring_register_buf_ring(&ring, &reg, 0);
  if (ret < 0) {
    munmap(br_, sizeof(io_uring_buf) * count);
    br_ = nullptr;
    return ret;
  }
  // MAP_POPULATE: the ring hands buffers out in turn, so all of them are touched soon
  // anyway; committing them up front makes them a fixed cost of the reactor, visible at
  // start, instead of a cost that seems to grow with the first thousand connections.
  void* b = mmap(nullptr, size_t(count) * size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  if (b == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(b);
  io_uring_buf_ring_init(br_);
  for (uint32_t i = 0; i < count; ++i) recycle(static_cast<uint16_t>(i));
  publish();
  return 0;
}

void BufferRing::recycle(uint16_t id) {
  io_uring_buf_ring_add(br_, buffer(id), size_, id, io_uring_buf_ring_mask(count_), static_cast<int>(pending_));
  ++pending_;
}

void BufferRing::publish() {
  if (pending_ == 0) return;
  io_uring_buf_ring_advance(br_, static_cast<int>(pending_));
  pending_ = 0;
}

}  // namespace ringws
