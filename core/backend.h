// The seam between the connection engine and the kernel interface. A reactor is one
// Engine (HTTP, WebSocket, send queues, timers, drain, fan-out: core/engine/) driven by one
// Backend: io_uring (core/uring/) or epoll (core/epoll/). Every reactor of a process uses
// the same kind, chosen at start (core/backend_choice.h).
//
// The backend owns the loop and the descriptors; the engine owns the connection slots. The
// backend reports events to the engine (Engine::on_accepted, on_bytes, on_peer_gone,
// on_send_done, on_released, on_posted) and the engine asks the backend for the few
// operations below. All calls but wake() happen on the reactor's own thread.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <span>

#include "alloc/shared_frame.h"
#include "core/engine/connection.h"

namespace ringws {

enum class BackendKind : uint8_t { kIoUring, kEpoll };

inline const char* backend_name(BackendKind kind) { return kind == BackendKind::kIoUring ? "io_uring" : "epoll"; }

/// What became of a send: `sent` bytes left at once (a negative value is -errno, and the
/// connection is gone); with `pending` the backend reports the rest later through
/// Engine::on_send_done (io_uring: the completion; epoll: the socket became writable).
struct SendResult {
  int32_t sent = 0;
  bool pending = false;
};

/// A descriptor that something other than a connection watches on the reactor's loop (the
/// chat app's Redis connection, driven by hiredis's async API). Called on the reactor's
/// thread; a watch stays until unwatch_fd().
class FdWatcher {
 public:
  virtual void on_fd_ready(int fd, bool readable, bool writable, bool failed) = 0;

 protected:
  ~FdWatcher() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual BackendKind kind() const = 0;
  /// On the reactor's own thread, before run(): rings or the epoll set, buffers, the wake
  /// descriptor. Returns 0, or -errno with `what` naming the step that failed.
  virtual int setup(const char*& what) = 0;
  /// The loop: waits, hands events to the engine, ends every iteration with
  /// Engine::end_iteration(), and returns once Engine::finished().
  virtual void run() = 0;
  /// On the reactor's thread after run(), until `loops_running` (the reactors still in run())
  /// is 0: hands what other reactors still post here (their loops may outlast this one's) to
  /// Engine::on_posted, whose app releases it, so that no frame, nor what a frame holds
  /// (a chat join's replay), is left behind when the backend goes.
  virtual void take_late_posts(const std::atomic<unsigned>& loops_running) = 0;
  /// Any thread: interrupts the wait, so the engine sees the process's stop flags.
  virtual void wake() = 0;
  /// Hands `frame` (one reference) and `tag` to `peer`'s Engine::on_posted, on its thread.
  /// `peer` is another reactor of this process, hence of the same kind.
  virtual void post(Backend& peer, SharedFrame* frame, uint32_t tag) = 0;

  /// Starts waiting for bytes on a connection the engine took in Engine::on_accepted.
  virtual void watch(Connection& c, ConnId id) = 0;
  /// Sends `iov` (`bytes` in all). The engine keeps one send at a time per connection, and
  /// keeps the frames referenced until it completes.
  virtual SendResult send(Connection& c, ConnId id, std::span<const iovec> iov, size_t bytes) = 0;
  /// Shuts the connection down for writing (a lingering close); reading goes on.
  virtual void shutdown_write(Connection& c, ConnId id) = 0;
  /// Cancels what is armed and closes the descriptor. Engine::on_released(id) follows once
  /// nothing in the kernel names the slot any more (at once for epoll).
  virtual void close(Connection& c, ConnId id) = 0;
  /// The process is exiting: stop accepting and close the listener.
  virtual void stop_listening() = 0;

  /// Watches `fd` (any descriptor the caller owns) for readability and/or writability,
  /// replacing an earlier watch of the same descriptor; with neither, it stays registered
  /// but quiet. Returns 0 or -errno.
  virtual int watch_fd(int fd, bool read, bool write, FdWatcher& watcher) = 0;
  /// Stops watching `fd` (before the caller closes it). No callback follows.
  virtual void unwatch_fd(int fd) = 0;
};

}  // namespace ringws
