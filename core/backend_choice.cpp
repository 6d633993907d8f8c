#include "core/backend_choice.h"

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "core/uring/ring.h"

namespace ringws {

std::string errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case ENOMEM: return "ENOMEM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EINVAL: return "EINVAL";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: {
      char name[16];
      std::snprintf(name, sizeof name, "E%d", err);
      return name;
    }
  }
}

BackendDecision io_uring_refused(const char* step, int err, const std::string& missing) {
  BackendDecision d;
  d.kind = BackendKind::kEpoll;
  d.step = step;
  d.error = errno_name(err);
  switch (err) {
    case ENOSYS:
      // Containers answer ENOSYS for system calls their seccomp profile does not list
      // (podman's default profile does so for io_uring).
      d.reason = "seccomp_enosys";
      d.explanation =
          "io_uring_setup was answered ENOSYS: a seccomp profile blocks io_uring (podman's and other container "
          "runtimes' default profiles answer ENOSYS for system calls they do not list); allow io_uring_setup, "
          "io_uring_enter and io_uring_register in the profile to use io_uring";
      break;
    case EPERM: {
      d.reason = "refused_eperm";
      std::ifstream sysctl("/proc/sys/kernel/io_uring_disabled");
      int disabled = 0;
      if (sysctl >> disabled && disabled != 0)
        d.explanation = std::string("io_uring is refused: the sysctl kernel.io_uring_disabled is ") +
                        (disabled == 1 ? "1" : "2");
      else
        d.explanation =
            "io_uring is refused with EPERM: a seccomp profile blocks it (Docker 25+ and containerd 2.0+ default "
            "profiles, ECS on Fargate); on EC2 hosts, allow io_uring in the Docker daemon's seccomp profile";
      break;
    }
    case EACCES:
      d.reason = "refused_eacces";
      d.explanation = "io_uring is refused with EACCES: a security module policy (SELinux, AppArmor) denies it";
      break;
    case EOPNOTSUPP:
      d.reason = "missing_feature";
      d.explanation = "this kernel's io_uring lacks " + (missing.empty() ? std::string("a feature") : missing) +
                      ", which ringws requires (Linux 6.1, Amazon Linux 2023's kernel, has them all)";
      break;
    case ENOMEM:
      d.reason = "setup_failed";
      d.explanation = "not enough locked memory for the rings (raise RLIMIT_MEMLOCK)";
      break;
    default:
      d.reason = "setup_failed";
      d.explanation = std::string("io_uring set-up failed at ") + step;
      break;
  }
  return d;
}

RingOptions ring_options(const Config& config) {
  RingOptions o;
  switch (config.uring_setup) {
    case Config::UringSetup::kBest: o.setup = RingOptions::Setup::kBest; break;
    case Config::UringSetup::kDeferTaskrun: o.setup = RingOptions::Setup::kDeferTaskrun; break;
    case Config::UringSetup::kCoopTaskrun: o.setup = RingOptions::Setup::kCoopTaskrun; break;
    case Config::UringSetup::kPlain: o.setup = RingOptions::Setup::kPlain; break;
  }
  o.register_ring_fd = config.uring_register_ring_fd;
  o.sqpoll = config.uring_sqpoll;
  return o;
}

BackendDecision choose_backend(const Config& config) {
  BackendChoice choice = config.backend;
  if (choice == BackendChoice::kEpoll) return {BackendKind::kEpoll, "configured", "", "", ""};
  const char* step = "";
  std::string missing;
  int err = probe_io_uring(step, missing, ring_options(config));
  if (err < 0) return io_uring_refused(step, -err, missing);
  return {BackendKind::kIoUring, choice == BackendChoice::kIoUring ? "configured" : "default", "", "", ""};
}

}  // namespace ringws
