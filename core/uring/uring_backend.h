// The io_uring backend (DESIGN.md section 2, "io_uring rules"): one ring per reactor with
// SINGLE_ISSUER | DEFER_TASKRUN, multishot accept into direct descriptors, a multishot
// POLLIN as the idle wait (256 B in the kernel, against ~864 B for an armed receive), a
// receive with buffer select and MSG_DONTWAIT when readable (so no receive stays armed),
// one sendmsg per connection carrying every queued frame, IORING_OP_MSG_RING between
// reactors, and one absolute timeout as the engine's clock.
#pragma once

#include <liburing.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/fd_watches.h"
#include "core/uring/buffer_ring.h"
#include "core/uring/ring.h"

namespace ringws {

class Engine;

struct UringSettings {
  uint32_t buffer_count = 1024;  ///< this reactor's share of the receive buffers (power of two)
  uint32_t buffer_size = 4096;
  /// How an idle connection waits for bytes (DESIGN.md: the choice costs kernel memory per
  /// connection; the tuning runs measure each).
  enum class IdleWait : uint8_t {
    kPoll,           ///< a multishot POLLIN, then a receive with MSG_DONTWAIT (the default)
    kRecv,           ///< an armed single-shot receive with buffer select
    kRecvMultishot,  ///< an armed multishot receive with buffer select
  };
  IdleWait idle_wait = IdleWait::kPoll;
  RingOptions ring;
};

class UringBackend final : public Backend {
 public:
  /// `listen_fd`: this reactor's SO_REUSEPORT listener (owned from now on). `capacity`:
  /// the fixed-file table's size, which is also the engine's slot count. `admin_fd`: the
  /// admin listener, on the one reactor that serves it (owned), or -1.
  UringBackend(Engine& engine, int listen_fd, uint32_t capacity, UringSettings settings, int admin_fd = -1);
  ~UringBackend() override;

  BackendKind kind() const override { return BackendKind::kIoUring; }
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

  const RingFeatures& features() const { return features_; }
  /// What setup() found missing, when it returned -EOPNOTSUPP.
  const std::string& missing_feature() const { return missing_; }

 private:
  io_uring_sqe* get_sqe();
  void handle(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_poll(Connection& c, ConnId id, const io_uring_cqe& cqe);
  void on_recv(Connection& c, ConnId id, const io_uring_cqe& cqe);
  void on_peer_address(ConnId id, const io_uring_cqe& cqe);
  void op_done(Connection& c, ConnId id);

  void arm_accept();
  void arm_admin_accept();
  void on_admin_accept(const io_uring_cqe& cqe);
  void arm_poll(Connection& c, ConnId id);
  void submit_recv(Connection& c, ConnId id);
  void submit_close(Connection& c, ConnId id);
  void submit_wake_read();
  void arm_timer();
  /// The kernel has taken every submitted request's data: the send scratch area can be
  /// reused (at once without SQPOLL, where submission is synchronous).
  void reuse_scratch_after_submit();
  /// Harvests the completions already posted; of them only frames matter past the loop.
  /// `deliver`: peers' posts go to Engine::on_posted (else they are only released).
  void take_posted_frames(bool deliver);
  void retry_parked();
  void arm_watch(uint32_t index);
  void on_watch(const io_uring_cqe& cqe);

  Engine& engine_;
  int listen_fd_;
  int admin_fd_;
  bool admin_armed_ = false;
  uint32_t capacity_;
  uint32_t reserve_;  ///< table entries kept for plain requests when the table is nearly full
  UringSettings settings_;
  io_uring ring_{};
  bool ring_ready_ = false;
  RingFeatures features_;
  std::string missing_;
  BufferRing buffers_;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  bool accept_armed_ = false;
  bool accept_paused_ = false;  ///< the table is full: re-armed when a descriptor closes
  bool listening_ = true;
  bool lookup_peers_ = false;   ///< a setting needs peer addresses and the kernel can give them
  bool stopping_ = false;
  uint32_t recvs_submitted_ = 0;  ///< receives prepared in this harvesting round

  // sendmsg headers and their iovecs, valid until the next submission (SUBMIT_STABLE).
  std::vector<msghdr> msgs_;
  std::vector<iovec> iovs_;
  size_t msgs_used_ = 0;
  size_t iovs_used_ = 0;

  __kernel_timespec timer_at_{};  ///< copied by the kernel at submission
  uint64_t timer_due_ns_ = 0;     ///< the latest timeout armed

  FdWatches watches_;
  std::vector<ConnId> parked_;  ///< connections waiting for receive buffers (-ENOBUFS)
  std::vector<ConnId> retry_;
};

}  // namespace ringws
