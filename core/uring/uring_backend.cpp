#include "core/uring/uring_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sched.h>

#include "core/clock.h"
#include "core/engine/engine.h"
#include "core/log.h"
#include "core/uring/op.h"
#include "core/uring/uring_flags.h"

namespace ringws {

using namespace uring;

namespace {

constexpr unsigned kSqEntries = 4096;
constexpr uint16_t kBufferGroup = 0;
constexpr size_t kCqeBatch = 256;
constexpr size_t kMaxSendsPerSubmit = 1024;
constexpr size_t kMaxIovsPerSubmit = 16384;
constexpr int kReceiveRounds = 4;  // submit-and-harvest rounds per iteration for fresh receives

}  // namespace

UringBackend::UringBackend(Engine& engine, int listen_fd, uint32_t capacity, UringSettings settings, int admin_fd)
    : engine_(engine),
      listen_fd_(listen_fd),
      admin_fd_(admin_fd),
      capacity_(capacity),
      reserve_(capacity >= 128 ? 16 : capacity / 8),
      settings_(settings),
      msgs_(kMaxSendsPerSubmit),
      iovs_(kMaxIovsPerSubmit) {}

UringBackend::~UringBackend() {
  if (ring_ready_) {
    // Frames other reactors posted and this one never harvested hold a reference each.
    take_posted_frames(/*deliver=*/false);
    io_uring_queue_exit(&ring_);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (admin_fd_ >= 0) ::close(admin_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int UringBackend::setup(const char*& what) {
  what = "io_uring_setup";
  int ret = setup_ring(ring_, kSqEntries, capacity_, features_, missing_, settings_.ring);
  if (ret < 0) return ret;
  ring_ready_ = true;
  // Multishot accept cannot report each peer's address; it is looked up per connection, at
  // two syscalls, only when a setting uses it and the kernel can (6.8+).
  lookup_peers_ = engine_.needs_peer_address() && features_.fixed_fd_install;
  what = "provided buffer ring";
  ret = buffers_.init(ring_, kBufferGroup, settings_.buffer_count, settings_.buffer_size);
  if (ret < 0) return ret;
  what = "eventfd";
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return -errno;
  return 0;
}

io_uring_sqe* UringBackend::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  for (int attempt = 0; !sqe; ++attempt) {
    // The SQ is full: hand what is queued to the kernel and take a fresh slot. The send
    // scratch area may be reused once the kernel has consumed its requests.
    int ret = io_uring_submit(&ring_);
    if (ret >= 0) {
      reuse_scratch_after_submit();
    } else if (attempt == 1000) {
      // The ring refuses every submission: nothing can be done on it any more.
      log_event(LogLevel::kError, "io_uring_submit_failed", "\"error\":\"%s\"", strerror(-ret));
      std::abort();
    } else {
      sched_yield();  // -EAGAIN/-EBUSY: the kernel is short of resources or of CQ room
    }
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringBackend::wake() {
  uint64_t one = 1;
  // A failed write means the counter is already non-zero: the reactor wakes anyway.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

// ---------------------------------------------------------------------------------------
// The loop

void UringBackend::run() {
  engine_.begin_iteration(monotonic_ns());
  arm_accept();
  if (admin_fd_ >= 0) arm_admin_accept();
  submit_wake_read();
  io_uring_cqe* batch[kCqeBatch];
  io_uring_cqe copies[kCqeBatch];
  while (!engine_.finished()) {
    arm_timer();
    int ret = io_uring_submit_and_wait(&ring_, 1);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
      log_event(LogLevel::kError, "io_uring_enter_failed", "\"reactor\":%u,\"error\":\"%s\"", engine_.id(),
                strerror(-ret));
      break;
    }
    reuse_scratch_after_submit();  // submitted: the kernel has what it needed of them
    engine_.begin_iteration(monotonic_ns());
    // Harvest a batch, hand the CQ slots back, then act (STYLE.md habit 4): handlers may
    // submit, and submissions may need the CQ space.
    // Readiness seen here is read here too: the receives it asked for are submitted at
    // once (they complete inline, MSG_DONTWAIT) and their bytes handled before the
    // iteration ends, so that what arrived together is answered by one send (as epoll
    // reads in the iteration that reports readiness).
    for (int round = 0; round < kReceiveRounds; ++round) {
      recvs_submitted_ = 0;
      unsigned n;
      while ((n = io_uring_peek_batch_cqe(&ring_, batch, kCqeBatch)) > 0) {
        for (unsigned i = 0; i < n; ++i) copies[i] = *batch[i];
        io_uring_cq_advance(&ring_, n);
        for (unsigned i = 0; i < n; ++i) handle(copies[i]);
      }
      if (recvs_submitted_ == 0) break;
      if (io_uring_submit(&ring_) >= 0) reuse_scratch_after_submit();
    }
    // Receives that found the buffer ring empty retry once buffers came back.
    buffers_.publish();
    retry_parked();
    engine_.end_iteration();
  }
  io_uring_submit(&ring_);  // the last cancels and closes
}

void UringBackend::take_late_posts(const std::atomic<unsigned>& loops_running) {
  for (;;) {
    // Read before the harvest: a peer counted out has made its last post (its loop ends
    // with a submit), so the harvest after seeing 0 takes in everything.
    bool last = loops_running.load(std::memory_order_acquire) == 0;
    if (last) {
      io_uring_get_events(&ring_);  // runs deferred task work: MSG_RING posts to this ring
    } else {
      __kernel_timespec wait{.tv_sec = 0, .tv_nsec = 10'000'000};
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
    }
    take_posted_frames(/*deliver=*/true);
    if (last) return;
  }
}

void UringBackend::take_posted_frames(bool deliver) {
  // A peer's post holds a reference for us; our own post that failed still holds ours.
  // Everything else dies with the ring.
  io_uring_cqe* cqe;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    io_uring_cqe c = *cqe;
    io_uring_cqe_seen(&ring_, cqe);
    Op op = op_of(c.user_data);
    if (op == Op::kCrossFrame && deliver)
      engine_.on_posted(pointer_of<SharedFrame>(c.user_data), static_cast<uint32_t>(c.res));
    else if (op == Op::kCrossFrame || (op == Op::kCrossSent && c.res < 0))
      pointer_of<SharedFrame>(c.user_data)->release();
  }
}

void UringBackend::reuse_scratch_after_submit() {
  // With SQPOLL a kernel thread consumes the SQ on its own time: wait (briefly; it polls)
  // until it has taken everything, or the next sends could overwrite headers it has not
  // read. Without SQPOLL the submit call itself consumed them (IORING_FEAT_SUBMIT_STABLE).
  if (features_.sqpoll) {
    for (int spins = 0; io_uring_sq_ready(&ring_) > 0; ++spins) {
      if (spins > 1000000) return;  // keep the area: the next send submits again first
      if (spins % 64 == 63) sched_yield();
    }
  }
  msgs_used_ = iovs_used_ = 0;
}

void UringBackend::arm_timer() {
  uint64_t want = engine_.next_wakeup_ns();
  // An armed timeout that fires at or before `want` will do (the engine reads the clock).
  if (timer_due_ns_ != 0 && timer_due_ns_ <= want) return;
  timer_at_.tv_sec = static_cast<int64_t>(want / 1000000000ull);
  timer_at_.tv_nsec = static_cast<long long>(want % 1000000000ull);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &timer_at_, 0, IORING_TIMEOUT_ABS);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kTick));
  timer_due_ns_ = want;
}

void UringBackend::handle(const io_uring_cqe& cqe) {
  uint64_t ud = cqe.user_data;
  switch (op_of(ud)) {
    case Op::kAccept:
      on_accept(cqe);
      return;
    case Op::kAcceptAdmin:
      on_admin_accept(cqe);
      return;
    case Op::kTick:
      // Timeouts can overlap (an earlier one armed when a drain began): the latest one
      // armed is spent once its time has come.
      if (timer_due_ns_ && timer_due_ns_ <= engine_.now_ns() + 1000000) timer_due_ns_ = 0;
      return;
    case Op::kWake:
      if (!stopping_) submit_wake_read();
      return;
    case Op::kUntracked:
      return;
    case Op::kCrossFrame:
      engine_.on_posted(pointer_of<SharedFrame>(ud), static_cast<uint32_t>(cqe.res));
      return;
    case Op::kFdWatch:
      on_watch(cqe);
      return;
    case Op::kCrossSent:
      if (cqe.res < 0) {
        log_event(LogLevel::kWarn, "cross_reactor_post_failed", "\"reactor\":%u,\"peer\":%u,\"error\":\"%s\"",
                  engine_.id(), extra_of(ud), strerror(-cqe.res));
        pointer_of<SharedFrame>(ud)->release();
      }
      return;
    case Op::kPoll:
    case Op::kRecv:
    case Op::kSend:
    case Op::kClose:
    case Op::kPeerAddress:
    case Op::kShutdown:
      break;
  }
  ConnId id{index_of(ud), generation_of(ud)};
  Connection* c = engine_.connection(id);
  if (!c) return;  // late completion for a slot since reused: nothing to do
  switch (op_of(ud)) {
    case Op::kPoll:
      on_poll(*c, id, cqe);
      break;
    case Op::kRecv:
      on_recv(*c, id, cqe);
      break;
    case Op::kSend:
      clear_flag(*c, kSendInFlight);
      engine_.on_send_done(*c, id, cqe.res);
      op_done(*c, id);
      break;
    case Op::kClose:
      if (accept_paused_ && listening_) {
        // A table entry is free again.
        accept_paused_ = false;
        if (!accept_armed_) arm_accept();
      }
      op_done(*c, id);
      break;
    case Op::kPeerAddress:
      on_peer_address(id, cqe);
      op_done(*c, id);
      break;
    case Op::kShutdown:
      clear_flag(*c, kShutdownPending);
      if (c->backend_flags & kCloseDeferred) submit_close(*c, id);
      op_done(*c, id);
      break;
    default:
      break;
  }
}

void UringBackend::op_done(Connection& c, ConnId id) {
  --c.ops_in_flight;
  // The last completion naming the slot: nothing in the kernel refers to it any more.
  if (c.ops_in_flight == 0 && c.state == ConnState::kTeardown) engine_.on_released(id);
}

void UringBackend::stop_listening() {
  if (!listening_) return;
  listening_ = false;
  stopping_ = true;
  if (accept_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_op(Op::kAccept), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
  }
  if (admin_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_op(Op::kAcceptAdmin), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
  }
  // The armed accept holds its own reference to the socket until the cancel completes.
  ::close(listen_fd_);
  listen_fd_ = -1;
  if (admin_fd_ >= 0) ::close(admin_fd_);
  admin_fd_ = -1;
  // Hand the cancel to the kernel now: the armed accept would keep the socket in the
  // SO_REUSEPORT group, taking connections nobody will serve, until the ring goes.
  io_uring_submit(&ring_);
  reuse_scratch_after_submit();
}

void UringBackend::submit_wake_read() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kWake));
}

void UringBackend::post(Backend& peer_backend, SharedFrame* frame, uint32_t tag) {
  auto& peer = static_cast<UringBackend&>(peer_backend);
  io_uring_sqe* sqe = get_sqe();
  // The peer receives a CQE whose user_data names the frame (it owns one reference) and
  // whose res carries the tag. A DEFER_TASKRUN target posts through task work and cannot
  // drop it for a full CQ (IORING_FEAT_NODROP), so a failure means the peer is gone.
  io_uring_prep_msg_ring(sqe, peer.ring_.ring_fd, tag, encode_ptr(Op::kCrossFrame, frame), 0);
  io_uring_sqe_set_data64(sqe, encode_ptr(Op::kCrossSent, frame, static_cast<uint8_t>(peer.engine_.id())));
}

// ---------------------------------------------------------------------------------------
// Descriptors the app watches: one-shot polls with the current interest, re-armed after
// each event; a change of interest cancels the armed poll and arms a new generation.

int UringBackend::watch_fd(int fd, bool read, bool write, FdWatcher& watcher) {
  uint32_t index = watches_.find_or_add(fd);
  FdWatches::Watch& w = watches_.at(index);
  w.watcher = &watcher;
  if (w.armed && (w.read != read || w.write != write)) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_conn(Op::kFdWatch, index, w.generation), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
    w.armed = false;
    ++w.generation;
  }
  w.read = read;
  w.write = write;
  if (!w.armed) arm_watch(index);
  return 0;
}

void UringBackend::unwatch_fd(int fd) {
  int index = watches_.find(fd);
  if (index < 0) return;
  FdWatches::Watch& w = watches_.at(static_cast<uint32_t>(index));
  if (w.armed) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_conn(Op::kFdWatch, static_cast<uint32_t>(index), w.generation), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
  }
  watches_.remove(static_cast<uint32_t>(index));
}

void UringBackend::arm_watch(uint32_t index) {
  FdWatches::Watch& w = watches_.at(index);
  unsigned mask = (w.read ? POLLIN : 0u) | (w.write ? POLLOUT : 0u);
  if (mask == 0) return;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_poll_add(sqe, w.fd, mask);
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kFdWatch, index, w.generation));
  w.armed = true;
}

void UringBackend::on_watch(const io_uring_cqe& cqe) {
  uint32_t index = index_of(cqe.user_data);
  FdWatches::Watch* w = watches_.resolve(index, generation_of(cqe.user_data));
  if (!w) return;  // changed or removed since it was armed
  w->armed = false;
  if (cqe.res == -ECANCELED) return;
  unsigned events = cqe.res < 0 ? POLLERR : static_cast<unsigned>(cqe.res);
  int fd = w->fd;
  w->watcher->on_fd_ready(fd, events & (POLLIN | POLLHUP), events & POLLOUT, events & (POLLERR | POLLHUP | POLLNVAL));
  // The callback may have changed or removed the watch; re-arm what is still wanted.
  if (FdWatches::Watch* again = watches_.resolve(index, generation_of(cqe.user_data)); again && !again->armed)
    arm_watch(index);
}

}  // namespace ringws
