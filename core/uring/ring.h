// io_uring set-up with run-time feature probing (DESIGN.md: never by kernel version).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

namespace ringws {

struct RingFeatures {
  bool single_issuer = false;     ///< IORING_SETUP_SINGLE_ISSUER accepted
  bool defer_taskrun = false;     ///< IORING_SETUP_DEFER_TASKRUN accepted
  bool coop_taskrun = false;      ///< fallback when DEFER_TASKRUN is missing
  bool registered_fd = false;     ///< the ring fd is registered (cheaper io_uring_enter)
  bool fixed_fd_install = false;  ///< IORING_OP_FIXED_FD_INSTALL (6.8): a direct descriptor's peer address
  std::string describe() const;
};

/// Sets up `ring` with the cheapest flags this kernel accepts: SINGLE_ISSUER |
/// DEFER_TASKRUN | SUBMIT_ALL, else COOP_TASKRUN, else none; CQ 8x the SQ. Registers a
/// sparse fixed-file table of `files` entries. Returns 0 or -errno (-EOPNOTSUPP when a
/// feature ringws requires is missing; `missing` then names it).
int setup_ring(io_uring& ring, unsigned entries, unsigned files, RingFeatures& features, std::string& missing);

/// Whether io_uring can serve as the backend here, checked the way a reactor will use it
/// (a throwaway ring, its opcodes, a fixed-file table and a provided-buffer ring). Returns
/// 0, or -errno with `step` naming what failed (`missing` names a missing feature).
int probe_io_uring(const char*& step, std::string& missing);

/// IORING_OP_FIXED_FD_INSTALL, which Debian's liburing 2.3 does not name.
inline constexpr uint8_t kOpFixedFdInstall = 54;

}  // namespace ringws
