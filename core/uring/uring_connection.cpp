// The io_uring backend's per-connection operations: accepting into direct descriptors, the
// idle wait (multishot POLLIN) and the receives it triggers, the one sendmsg in flight, the
// half-close and the close.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/engine/engine.h"
#include "core/uring/op.h"
#include "core/uring/uring_backend.h"
#include "core/uring/uring_flags.h"

namespace ringws {

using namespace uring;

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

void UringBackend::arm_admin_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept_direct(sqe, admin_fd_, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kAcceptAdmin));
  admin_armed_ = true;
}

void UringBackend::on_admin_accept(const io_uring_cqe& cqe) {
  if (!(cqe.flags & IORING_CQE_F_MORE)) admin_armed_ = false;
  if (cqe.res >= 0) {
    // The operator's endpoints: served even near a full table (the reserve is for them).
    ConnId id = engine_.on_accepted(cqe.res, nullptr, false, /*admin=*/true);
    if (id.index == kNoSlot) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(cqe.res));
      io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
    }
  } else if (cqe.res != -ECANCELED) {
    engine_.stats().accept_errors.fetch_add(1, std::memory_order_relaxed);
  }
  if (!admin_armed_ && listening_ && admin_fd_ >= 0) arm_admin_accept();
}

void UringBackend::watch(Connection& c, ConnId id) {
  if (lookup_peers_ && c.handshake()) {
    // Submitted before the poll, so it completes (inline, at submission) before any bytes
    // are handled: the address is known when the request is.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_rw(kOpFixedFdInstall, sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    sqe->rw_flags = 0;  // install_fd_flags: the installed descriptor is O_CLOEXEC
    io_uring_sqe_set_data64(sqe, encode_conn(Op::kPeerAddress, id.index, id.generation));
    ++c.ops_in_flight;
  }
  if (settings_.idle_wait == UringSettings::IdleWait::kPoll)
    arm_poll(c, id);
  else
    submit_recv(c, id);  // the receive itself is the idle wait
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
  switch (settings_.idle_wait) {
    case UringSettings::IdleWait::kPoll:
      // MSG_DONTWAIT: if the data is gone, fail with -EAGAIN instead of arming the
      // receive, which would hold ~864 B of kernel memory while the connection idles.
      io_uring_prep_recv(sqe, c.fd, nullptr, buffers_.buffer_size(), MSG_DONTWAIT);
      ++recvs_submitted_;  // completes inline: worth another harvest this iteration
      break;
    case UringSettings::IdleWait::kRecv:
      io_uring_prep_recv(sqe, c.fd, nullptr, buffers_.buffer_size(), 0);
      break;
    case UringSettings::IdleWait::kRecvMultishot:
      io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
      break;
  }
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_.group();
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kRecv, id.index, id.generation));
  c.backend_flags = static_cast<uint8_t>((c.backend_flags | kRecvInFlight) & ~kRecvAgain);
  ++c.ops_in_flight;
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
  // A multishot receive goes on while the kernel says MORE; anything else has ended.
  const bool ended = !(cqe.flags & IORING_CQE_F_MORE);
  const bool armed_wait = settings_.idle_wait != UringSettings::IdleWait::kPoll;
  if (ended) clear_flag(c, kRecvInFlight);
  int res = cqe.res;
  if (res > 0 && (cqe.flags & IORING_CQE_F_BUFFER)) {
    uint16_t bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    engine_.on_bytes(c, id, {buffers_.buffer(bid), static_cast<size_t>(res)});
    // Every byte was parsed or copied out: the buffer goes straight back to the ring.
    buffers_.recycle(bid);
    // Poll mode: a full buffer likely left more behind, and a readiness may have arrived
    // meanwhile. Armed modes: the receive is the wait, so it is always re-armed.
    if (ended && c.state != ConnState::kTeardown &&
        (armed_wait || static_cast<uint32_t>(res) == buffers_.buffer_size() || (c.backend_flags & kRecvAgain)))
      submit_recv(c, id);
  } else if (res == -EAGAIN || res == -EINTR) {
    if (ended && (armed_wait || (c.backend_flags & kRecvAgain)) && c.state != ConnState::kTeardown) submit_recv(c, id);
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
  if (ended) op_done(c, id);
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
    if (io_uring_submit(&ring_) >= 0) reuse_scratch_after_submit();
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
  for (Op op : {Op::kPoll, Op::kSend, Op::kRecv}) {
    uint8_t flag = op == Op::kPoll ? kPollArmed : op == Op::kSend ? kSendInFlight : kRecvInFlight;
    if (!(c.backend_flags & flag)) continue;
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

}  // namespace ringws
