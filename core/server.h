// The process: N reactors on N threads sharing one port (SO_REUSEPORT), and the main
// thread waiting for SIGINT/SIGTERM to drain them.
#pragma once

#include "core/config.h"

namespace ringws {

/// Exit codes, stable for scripts and service managers.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitListen = 3,    ///< the address is taken or cannot be bound
  kExitIoUring = 4,   ///< io_uring is unavailable or refused (seccomp, old kernel)
  kExitRuntime = 5,   ///< a reactor failed while running
};

/// Runs the server until a signal has drained it. Returns an ExitCode.
int run_server(const Config& config);

}  // namespace ringws
