// The epoll backend: where io_uring is refused (container seccomp profiles, Fargate,
// kernel.io_uring_disabled) and as the baseline of tuning runs. accept4 on the reactor's
// SO_REUSEPORT listener; one epoll entry per connection (about 230 B of kernel memory, the
// idle wait); reads into one buffer per reactor, never one per connection; the queued
// shared frames leave in one sendmsg (an iovec) per connection; an eventfd plus a
// lock-free queue for posts between reactors; the epoll_wait timeout as the wheel's clock.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/epoll/post_queue.h"
#include "core/fd_watches.h"

namespace ringws {

class Engine;

struct EpollSettings {
  uint32_t buffer_size = 65536;  ///< the reactor's one receive buffer
  bool edge_triggered = false;   ///< EPOLLET: one registration, read until drained
};

/// Descriptors every epoll reactor of a process shares: RLIMIT_NOFILE caps the process,
/// not each reactor.
struct DescriptorBudget {
  std::atomic<int64_t> open{0};  ///< connection descriptors open in the process
  int64_t limit = 0;             ///< connection descriptors the process may open
  int64_t reserve = 32;          ///< kept for plain requests (/healthz, /metrics) when nearly full
};

class EpollBackend final : public Backend {
 public:
  /// `listen_fd`: this reactor's SO_REUSEPORT listener (owned from now on); `admin_fd`: the
  /// admin listener, on the one reactor that serves it (owned), or -1.
  EpollBackend(Engine& engine, int listen_fd, EpollSettings settings, DescriptorBudget& budget, int admin_fd = -1);
  ~EpollBackend() override;

  BackendKind kind() const override { return BackendKind::kEpoll; }
  int setup(const char*& what) override;
  void run() override;
  void take_late_posts(const std::atomic<unsigned>& loops_running) override;
  void wake() override;
  void post(Backend& peer, SharedFrame* frame, uint32_t tag) override;
  void watch(Connection& c, ConnId id) override;
  SendResult send(Connection& c, ConnId id, std::span<const iovec> iov, size_t bytes) override;
  void shutdown_write(Connection& c, ConnId id) override;
  void close(Connection& c, ConnId id) override;
  void stop_listening() override;
  int watch_fd(int fd, bool read, bool write, FdWatcher& watcher) override;
  void unwatch_fd(int fd) override;

 private:
  void accept_ready(int listen_fd, bool admin);
  void refuse_over_limit(int listen_fd);
  /// Reads what `c` has; returns true if more may be left unread (edge-triggered).
  bool read_ready(Connection& c, ConnId id);
  void write_ready(Connection& c, ConnId id);
  void take_posts();
  int wait_timeout_ms() const;

  Engine& engine_;
  int listen_fd_;
  int admin_fd_;
  EpollSettings settings_;
  DescriptorBudget& budget_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int spare_fd_ = -1;  ///< given up to accept (and refuse) one client when out of descriptors
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> send_scratch_;  ///< small gathers are copied here and sent whole
  std::vector<epoll_event> events_;
  std::vector<ConnId> unread_;  ///< edge-triggered connections left readable (fairness cap)
  std::vector<ConnId> retry_;
  PostQueue posts_;
  FdWatches watches_;
};

}  // namespace ringws
