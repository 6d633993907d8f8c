// The process: N reactors (an engine and a backend each) on N threads sharing one port
// (SO_REUSEPORT), and the main thread waiting for SIGINT/SIGTERM to drain them, sampling
// memory for the governor, and printing EMF lines.
#pragma once

#include "core/config.h"

namespace ringws {

class AppModule;

/// Exit codes, stable for scripts and service managers.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitListen = 3,    ///< the address is taken or cannot be bound
  kExitIoUring = 4,   ///< --backend io_uring was forced and io_uring is unavailable or refused
  kExitRuntime = 5,   ///< a reactor failed to set up or while running
};

/// Runs the server until a signal has drained it. Returns an ExitCode.
int run_server(const Config& config, AppModule& app);

}  // namespace ringws
