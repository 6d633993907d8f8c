// io_uring set-up with run-time feature probing (DESIGN.md: never by kernel version).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <string>

namespace ringws {

/// How a reactor's ring is set up: ringws's choices by default, each one a flag for tuning
/// runs (scripts/tuning.sh) to compare without a rebuild.
struct RingOptions {
  enum class Setup : uint8_t {
    kBest,          ///< SINGLE_ISSUER | DEFER_TASKRUN, else COOP_TASKRUN, else none
    kDeferTaskrun,  ///< SINGLE_ISSUER | DEFER_TASKRUN only
    kCoopTaskrun,   ///< COOP_TASKRUN only
    kPlain,         ///< no task-running flags
  };
  Setup setup = Setup::kBest;
  bool register_ring_fd = true;  ///< io_uring_enter through a registered ring descriptor
  bool sqpoll = false;           ///< a kernel thread polls the SQ (IORING_SETUP_SQPOLL)
  uint32_t sqpoll_idle_ms = 1000;
};

struct RingFeatures {
  bool single_issuer = false;     ///< IORING_SETUP_SINGLE_ISSUER accepted
  bool defer_taskrun = false;     ///< IORING_SETUP_DEFER_TASKRUN accepted
  bool coop_taskrun = false;      ///< fallback when DEFER_TASKRUN is missing
  bool registered_fd = false;     ///< the ring fd is registered (cheaper io_uring_enter)
  bool fixed_fd_install = false;  ///< IORING_OP_FIXED_FD_INSTALL (6.8): a direct descriptor's peer address
  bool sqpoll = false;            ///< IORING_SETUP_SQPOLL: submissions are consumed asynchronously
  std::string describe() const;
};

/// Sets up `ring` as `options` ask (by default the cheapest flags this kernel accepts:
/// SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL, else COOP_TASKRUN, else none); CQ 8x the SQ.
/// Registers a sparse fixed-file table of `files` entries. Returns 0 or -errno
/// (-EOPNOTSUPP when a feature ringws requires, or one `options` asks for, is missing;
/// `missing` then names it).
int setup_ring(io_uring& ring, unsigned entries, unsigned files, RingFeatures& features, std::string& missing,
               const RingOptions& options = {});

/// Whether io_uring can serve as the backend here, checked the way a reactor will use it
/// (a throwaway ring, its opcodes, a fixed-file table and a provided-buffer ring). Returns
/// 0, or -errno with `step` naming what failed (`missing` names a missing feature).
int probe_io_uring(const char*& step, std::string& missing, const RingOptions& options = {});

/// IORING_OP_FIXED_FD_INSTALL, which Debian's liburing 2.3 does not name.
inline constexpr uint8_t kOpFixedFdInstall = 54;

}  // namespace ringws
