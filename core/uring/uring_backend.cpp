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

namespace ringws {

namespace {

constexpr unsigned kSqEntries = 4096;
constexpr uint16_t kBufferGroup = 0;
constexpr size_t kCqeBatch = 256;
constexpr size_t kMaxSendsPerSubmit = 1024;
constexpr size_t kMaxIovsPerSubmit = 16384;
constexpr int kReceiveRounds = 4;  // submit-and-harvest rounds per iteration for fresh receives

// This backend's bits in Connection::backend_flags.
enum UringFlag : uint8_t {
  kPollArmed = 1 << 0,        ///< multishot POLLIN armed: the cheap wait for an idle connection
  kRecvInFlight = 1 << 1,     ///< one receive submitted
  kRecvAgain = 1 << 2,        ///< readable again while the receive was in flight
  kParked = 1 << 3,           ///< waiting for receive buffers (-ENOBUFS)
  kSendInFlight = 1 << 4,     ///< the one sendmsg in flight
  kShutdownPending = 1 << 5,  ///< a half-close is in flight: it may run in io-wq, late
  kCloseDeferred = 1 << 6,    ///< the close waits for that half-close
};

void clear_flag(Connection& c, uint8_t flag) { c.backend_flags = static_cast<uint8_t>(c.backend_flags & ~flag); }

}  // namespace

UringBackend::UringBackend(Engine& engine, int listen_fd, uint32_t capacity, UringSettings settings)
    : engine_(engine),
      listen_fd_(listen_fd),
      capacity_(capacity),
      reserve_(capacity >= 128 ? 16 : capacity / 8),
      settings_(settings),
      msgs_(kMaxSendsPerSubmit),
      iovs_(kMaxIovsPerSubmit) {}

UringBackend::~UringBackend() {
  if (ring_ready_) {
    // Frames other reactors posted and this one never harvested hold a reference each.
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      if (op_of(cqe->user_data) == Op::kCrossFrame) pointer_of<SharedFrame>(cqe->user_data)->release();
      io_uring_cqe_seen(&ring_, cqe);
    }
    io_uring_queue_exit(&ring_);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int UringBackend::setup(const char*& what) {
  what = "io_uring_setup";
  int ret = setup_ring(ring_, kSqEntries, capacity_, features_, missing_);
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
      msgs_used_ = iovs_used_ = 0;
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
    msgs_used_ = iovs_used_ = 0;  // submitted: the kernel has what it needed of them
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
      if (io_uring_submit(&ring_) >= 0) msgs_used_ = iovs_used_ = 0;
    }
    // Receives that found the buffer ring empty retry once buffers came back.
    buffers_.publish();
    retry_parked();
    engine_.end_iteration();
  }
  io_uring_submit(&ring_);  // the last cancels and closes
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

// ---------------------------------------------------------------------------------------
// Accepting

void UringBackend::arm_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept_direct(sqe, listen_fd_, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kAccept));
  accept_armed_ = true;
}

void UringBackend::on_accept(const io_uring_cqe& cqe) {
  if (!(cqe.flags & IORING_CQE_F_MORE)) accept_armed_ = false;
  if (cqe.res < 0) {
    if (cqe.res != -ECANCELED) {
      engine_.stats().accept_errors.fetch_add(1, std::memory_order_relaxed);
      if (cqe.res == -ENFILE || cqe.res == -EMFILE) accept_paused_ = true;
    }
  } else {
    int fd = cqe.res;
    // Near a full table, new connections may still ask for /healthz or /metrics, but not
    // become WebSocket connections: the last entries stay free for those answers.
    uint32_t live = engine_.live_slots();
    ConnId id = engine_.on_accepted(fd, nullptr, live + 1 > capacity_ - reserve_);
    if (id.index == kNoSlot) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(fd));
      io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
    }
    // A full table would fail the next accepts after taking the clients' connections off
    // the backlog: pause instead, and let the backlog hold them until a close.
    if (engine_.live_slots() >= capacity_) accept_paused_ = true;
  }
  if (accept_paused_ && accept_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_op(Op::kAccept), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
  }
  if (!accept_armed_ && !accept_paused_ && listening_) arm_accept();
}

void UringBackend::watch(Connection& c, ConnId id) {
  if (lookup_peers_ && c.handshake) {
    // Submitted before the poll, so it completes (inline, at submission) before any bytes
    // are handled: the address is known when the request is.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_rw(kOpFixedFdInstall, sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->rw_flags = 0;  // install_fd_flags: the installed descriptor is O_CLOEXEC
    io_uring_sqe_set_data64(sqe, encode_conn(Op::kPeerAddress, id.index, id.generation));
    ++c.ops_in_flight;
  }
  arm_poll(c, id);
}

void UringBackend::on_peer_address(ConnId id, const io_uring_cqe& cqe) {
  if (cqe.res < 0) return;
  int fd = cqe.res;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    engine_.on_peer_address(id, reinterpret_cast<sockaddr*>(&addr));
  ::close(fd);
}

// ---------------------------------------------------------------------------------------
// Bytes in

void UringBackend::arm_poll(Connection& c, ConnId id) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_poll_multishot(sqe, c.fd, POLLIN | POLLRDHUP);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kPoll, id.index, id.generation));
  c.backend_flags |= kPollArmed;
  ++c.ops_in_flight;
}

void UringBackend::submit_recv(Connection& c, ConnId id) {
  io_uring_sqe* sqe = get_sqe();
  // MSG_DONTWAIT: if the data is gone, fail with -EAGAIN instead of arming the receive,
  // which would hold ~864 B of kernel memory while the connection idles.
  io_uring_prep_recv(sqe, c.fd, nullptr, buffers_.buffer_size(), MSG_DONTWAIT);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_.group();
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kRecv, id.index, id.generation));
  c.backend_flags = static_cast<uint8_t>((c.backend_flags | kRecvInFlight) & ~kRecvAgain);
  ++c.ops_in_flight;
  ++recvs_submitted_;
}

void UringBackend::on_poll(Connection& c, ConnId id, const io_uring_cqe& cqe) {
  bool ended = !(cqe.flags & IORING_CQE_F_MORE);
  if (ended) clear_flag(c, kPollArmed);
  if (c.state != ConnState::kTeardown) {
    if (cqe.res > 0 || (cqe.res < 0 && cqe.res != -ECANCELED)) {
      if (c.backend_flags & kRecvInFlight)
        c.backend_flags |= kRecvAgain;
      else if (!(c.backend_flags & kParked))
        submit_recv(c, id);
    }
    // A multishot poll ends on CQ overflow or when the kernel drops it: re-arm. An error
    // ends the connection (the receive it triggered reports the cause).
    if (ended && cqe.res >= 0) arm_poll(c, id);
  }
  if (ended) op_done(c, id);
}

void UringBackend::on_recv(Connection& c, ConnId id, const io_uring_cqe& cqe) {
  clear_flag(c, kRecvInFlight);
  int res = cqe.res;
  if (res > 0 && (cqe.flags & IORING_CQE_F_BUFFER)) {
    uint16_t bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    engine_.on_bytes(c, id, {buffers_.buffer(bid), static_cast<size_t>(res)});
    // Every byte was parsed or copied out: the buffer goes straight back to the ring.
    buffers_.recycle(bid);
    // A full buffer likely left more behind; a readiness that arrived meanwhile too.
    if (c.state != ConnState::kTeardown &&
        (static_cast<uint32_t>(res) == buffers_.buffer_size() || (c.backend_flags & kRecvAgain)))
      submit_recv(c, id);
  } else if (res == -EAGAIN || res == -EINTR) {
    if ((c.backend_flags & kRecvAgain) && c.state != ConnState::kTeardown) submit_recv(c, id);
  } else if (res == -ENOBUFS) {
    // The ring ran dry: not the connection's fault. Retry when buffers come back.
    engine_.stats().buffer_starvations.fetch_add(1, std::memory_order_relaxed);
    if (c.state != ConnState::kTeardown && !(c.backend_flags & kParked)) {
      c.backend_flags |= kParked;
      parked_.push_back(id);
    }
  } else if (res != -ECANCELED) {
    // 0 is end of stream (the peer closed without a close frame), the rest are errors.
    engine_.on_peer_gone(c, id, res);
  }
  op_done(c, id);
}

void UringBackend::retry_parked() {
  if (parked_.empty()) return;
  // Swap with a kept vector: parking must not allocate on every starved iteration.
  retry_.swap(parked_);
  for (ConnId id : retry_) {
    Connection* c = engine_.connection(id);
    if (!c || !(c->backend_flags & kParked)) continue;
    clear_flag(*c, kParked);
    if (c->state != ConnState::kTeardown && !(c->backend_flags & kRecvInFlight)) submit_recv(*c, id);
  }
  retry_.clear();
}

// ---------------------------------------------------------------------------------------
// Bytes out, closing, posting

SendResult UringBackend::send(Connection& c, ConnId id, std::span<const iovec> iov, size_t /*bytes*/) {
  if (msgs_used_ == msgs_.size() || iovs_used_ + iov.size() > iovs_.size()) {
    if (io_uring_submit(&ring_) >= 0) msgs_used_ = iovs_used_ = 0;
  }
  io_uring_sqe* sqe = get_sqe();  // may submit, and so empty the scratch area: fill it after
  if (msgs_used_ == msgs_.size() || iovs_used_ + iov.size() > iovs_.size()) {
    // The kernel would not take a submission: report the send as failed rather than
    // overwrite a header it has not consumed.
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
    return {-ENOBUFS, false};
  }
  iovec* list = &iovs_[iovs_used_];
  std::memcpy(list, iov.data(), iov.size() * sizeof(iovec));
  iovs_used_ += iov.size();
  msghdr& msg = msgs_[msgs_used_++];
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = list;
  msg.msg_iovlen = iov.size();
  io_uring_prep_sendmsg(sqe, c.fd, &msg, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kSend, id.index, id.generation));
  c.backend_flags |= kSendInFlight;
  ++c.ops_in_flight;
  return {0, true};
}

void UringBackend::shutdown_write(Connection& c, ConnId id) {
  // IORING_OP_SHUTDOWN runs in io-wq and may look the descriptor up late: if the
  // descriptor were closed and its index given to a new connection meanwhile, it would
  // shut the new one. close() therefore waits for this to complete (kCloseDeferred).
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kShutdown, id.index, id.generation));
  c.backend_flags |= kShutdownPending;
  ++c.ops_in_flight;
}

void UringBackend::close(Connection& c, ConnId id) {
  // Cancel what may be armed (the poll, a send waiting for socket space; receives never
  // wait), and close. Cancelling by user_data is a hash lookup (cancelling by descriptor
  // walks every armed poll of the ring, which made closing N connections cost N^2), and
  // it finds the request whether or not the close ran first.
  for (Op op : {Op::kPoll, Op::kSend}) {
    if (!(c.backend_flags & (op == Op::kPoll ? kPollArmed : kSendInFlight))) continue;
    io_uring_sqe* cancel = get_sqe();
    io_uring_prep_cancel64(cancel, encode_conn(op, id.index, id.generation), 0);
    io_uring_sqe_set_data64(cancel, encode_op(Op::kUntracked));
  }
  if (c.backend_flags & kShutdownPending)
    c.backend_flags |= kCloseDeferred;
  else
    submit_close(c, id);
}

void UringBackend::submit_close(Connection& c, ConnId id) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.fd));
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kClose, id.index, id.generation));
  ++c.ops_in_flight;
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
  // The armed accept holds its own reference to the socket until the cancel completes.
  ::close(listen_fd_);
  listen_fd_ = -1;
  // Hand the cancel to the kernel now: the armed accept would keep the socket in the
  // SO_REUSEPORT group, taking connections nobody will serve, until the ring goes.
  io_uring_submit(&ring_);
  msgs_used_ = iovs_used_ = 0;
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

}  // namespace ringws
