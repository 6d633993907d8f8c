// Which backend the reactors run on (--backend): io_uring where it works, epoll where it
// is refused. Containers refuse it more often than not (DESIGN.md: Docker 25+ and
// containerd 2.0+ answer EPERM, podman's default profile ENOSYS, ECS on Fargate allows no
// profile at all), and kernel.io_uring_disabled refuses it on a host.
#pragma once

#include <string>

#include "core/backend.h"
#include "core/config.h"
#include "core/uring/ring.h"

namespace ringws {

struct BackendDecision {
  BackendKind kind = BackendKind::kIoUring;
  /// A short token for /metrics: default, configured, or why io_uring was not used
  /// (seccomp_enosys, refused_eperm, refused_eacces, missing_feature, setup_failed).
  std::string reason;
  /// When io_uring failed: the step, the errno's name and a sentence for the log.
  std::string step, error, explanation;
};

/// io_uring failed at `step` with -`err` (`missing`: a feature it lacks): fills the
/// decision's reason, error and explanation for the fallback to epoll.
BackendDecision io_uring_refused(const char* step, int err, const std::string& missing);

/// Probes io_uring (a throwaway ring on the calling thread, set up with the --uring-*
/// options) for --backend auto and io_uring; epoll needs no probe. With --backend io_uring
/// a failure is returned as a decision for epoll too, and the caller refuses to start.
BackendDecision choose_backend(const Config& config);

/// "EPERM" for EPERM, and so on for the errors a ring set-up can give; else "E<number>".
std::string errno_name(int err);

/// The ring options the --uring-* flags ask for.
RingOptions ring_options(const Config& config);

}  // namespace ringws
