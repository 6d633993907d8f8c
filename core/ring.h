// io_uring set-up with run-time feature probing (DESIGN.md: never by kernel version), and
// the provided-buffer ring a reactor shares among all its connections.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

namespace ringws {

struct RingFeatures {
  bool single_issuer = false;  ///< IORING_SETUP_SINGLE_ISSUER accepted
  bool defer_taskrun = false;  ///< IORING_SETUP_DEFER_TASKRUN accepted
  bool coop_taskrun = false;   ///< fallback when DEFER_TASKRUN is missing
  bool registered_fd = false;  ///< the ring fd is registered (cheaper io_uring_enter)
  bool fixed_fd_install = false;  ///< IORING_OP_FIXED_FD_INSTALL (6.8): a direct descriptor's peer address
  std::string describe() const;
};

/// Sets up `ring` with the cheapest flags this kernel accepts: SINGLE_ISSUER |
/// DEFER_TASKRUN | SUBMIT_ALL, else COOP_TASKRUN, else none; CQ 8x the SQ. Registers a
/// sparse fixed-file table of `files` entries. Returns 0 or -errno.
int setup_ring(io_uring& ring, unsigned entries, unsigned files, RingFeatures& features);

/// IORING_OP_FIXED_FD_INSTALL, which Debian's liburing 2.3 does not name.
inline constexpr uint8_t kOpFixedFdInstall = 54;

/// The buffers a reactor's receives select from (IOSQE_BUFFER_SELECT): `count` buffers of
/// `size` bytes in one allocation, registered as buffer group `group`.
class BufferRing {
 public:
  BufferRing() = default;
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  /// Returns 0 or -errno. `count` must be a power of two.
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
