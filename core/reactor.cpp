#include "core/reactor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/clock.h"
#include "core/demo_page.h"
#include "core/json_text.h"
#include "core/listener.h"
#include "core/log.h"
#include "core/op.h"
#include "proto/http_request.h"
#include "proto/http_response.h"

namespace ringws {

namespace {

constexpr unsigned kSqEntries = 4096;
constexpr uint16_t kBufferGroup = 0;
constexpr size_t kCqeBatch = 256;
constexpr uint32_t kMaxSendNodes = 1u << 22;  // queued frames per reactor (address space only)
constexpr uint32_t kBroadcastTag = 0x7fffffffu;  // post() tag of a broadcast to every connection
constexpr long kDrainTickNs = 100 * 1000 * 1000;  // batches of the drain go out every 100 ms

CloseReason reason_for_code(uint16_t code) {
  switch (code) {
    case 1002: return CloseReason::kProtocolError;
    case 1007: return CloseReason::kInvalidData;
    case 1009: return CloseReason::kTooBig;
    case 1008: return CloseReason::kSlowConsumer;
    default: return CloseReason::kInternal;
  }
}

/// The right-most X-Forwarded-For entry: the one the nearest proxy (the ALB) appended.
std::string_view rightmost_forwarded(std::string_view xff) {
  size_t comma = xff.rfind(',');
  std::string_view last = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  return last;
}

/// A stable pseudo-random number in [0, 1024) per slot, so the drain's batches are spread
/// over the window without keeping any per-connection state.
uint32_t drain_slot_jitter(uint32_t index, uint16_t generation) {
  uint32_t h = index * 2654435761u ^ (uint32_t(generation) * 40503u);
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return h & 1023;
}

/// Connections one ring can hold: its fixed-file table is capped by RLIMIT_NOFILE.
uint32_t table_size() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  uint32_t n = rl.rlim_cur > 1u << 24 ? 1u << 24 : static_cast<uint32_t>(rl.rlim_cur);
  return n;
}

}  // namespace

Reactor::Reactor(ServerState& state, unsigned id, std::unique_ptr<App> app)
    : state_(state),
      config_(state.config),
      id_(id),
      app_(std::move(app)),
      max_connections_(table_size()),
      slab_(max_connections_),
      wheel_(256, &Reactor::resolve_timer, this),
      send_nodes_(kMaxSendNodes),
      framer_(FramerLimits{state.config.max_message}),
      ping_frame_(make_frame(Opcode::kPing, {})) {
  tick_interval_.tv_sec = 1;
  drain_tick_interval_.tv_nsec = kDrainTickNs;
}

Reactor::~Reactor() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  // After the ring is gone no operation names a slot: release what the slots still hold.
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i)) free_slot(*c, i);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (ping_frame_) ping_frame_->release();
}

int Reactor::open_listener(uint16_t& port) {
  uint16_t bound = 0;
  int fd = open_listening_socket(config_.host, port, bound);
  if (fd < 0) return fd;
  listen_fd_ = fd;
  port = bound;
  return 0;
}

int Reactor::setup_ring(const char*& what) {
  what = "io_uring_setup";
  int ret = ringws::setup_ring(ring_, kSqEntries, max_connections_, features_);
  if (ret < 0) return ret;
  ring_ready_ = true;
  // Multishot accept cannot report each peer's address; it is looked up per connection, at
  // two syscalls, only when a setting uses it and the kernel can (6.8+).
  lookup_peers_ = config_.needs_peer_address() && features_.fixed_fd_install;
  what = "provided buffer ring";
  ret = buffers_.init(ring_, kBufferGroup, config_.buffer_count, config_.buffer_size);
  if (ret < 0) return ret;
  what = "eventfd";
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return -errno;
  return 0;
}

io_uring_sqe* Reactor::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    // The SQ is full: hand what is queued to the kernel and take a fresh slot.
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Reactor::request_stop() {
  uint64_t one = 1;
  // A failed write means the counter is already non-zero: the reactor will wake anyway.
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

// ---------------------------------------------------------------------------------------
// Submissions

void Reactor::arm_accept() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept_direct(sqe, listen_fd_, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kAccept));
  accept_armed_ = true;
}

void Reactor::arm_poll(Connection& c, uint32_t index) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_poll_multishot(sqe, c.fd, POLLIN | POLLRDHUP);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kPoll, index, slab_.generation(index)));
  c.flags |= kPollArmed;
  ++c.ops_in_flight;
}

void Reactor::submit_recv(Connection& c, uint32_t index) {
  io_uring_sqe* sqe = get_sqe();
  // MSG_DONTWAIT: if the data is gone, fail with -EAGAIN instead of arming the receive,
  // which would hold ~864 B of kernel memory while the connection idles.
  io_uring_prep_recv(sqe, c.fd, nullptr, buffers_.buffer_size(), MSG_DONTWAIT);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_.group();
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kRecv, index, slab_.generation(index)));
  c.flags = static_cast<uint8_t>((c.flags | kRecvInFlight) & ~kRecvAgain);
  ++c.ops_in_flight;
}

void Reactor::submit_send(Connection& c, uint32_t index) {
  SendNode* head = send_nodes_.get(c.send_head);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, c.fd, head->frame->data() + c.send_offset,
                     head->frame->size() - c.send_offset, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kSend, index, slab_.generation(index)));
  c.flags |= kSendInFlight;
  ++c.ops_in_flight;
}

void Reactor::submit_peer_lookup(Connection& c, uint32_t index) {
  // The request buffer is lent now instead of at the first bytes: it holds the address.
  c.handshake = static_cast<HandshakeBuffer*>(std::malloc(sizeof(HandshakeBuffer) + config_.max_header_bytes));
  if (!c.handshake) return;
  c.handshake->length = 0;
  c.handshake->peer[0] = '\0';
  // Submitted before the poll, so it completes (inline, at submission) before any bytes are
  // handled: the address is known when the request is.
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_rw(kOpFixedFdInstall, sqe, c.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->rw_flags = 0;  // install_fd_flags: the installed descriptor is O_CLOEXEC
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kPeerAddress, index, slab_.generation(index)));
  ++c.ops_in_flight;
}

void Reactor::on_peer_address(Connection& c, const io_uring_cqe& cqe) {
  if (cqe.res < 0) return;
  int fd = cqe.res;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (c.state == ConnState::kHandshake && c.handshake && getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    if (addr.ss_family == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
      // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d: name them as IPv4.
      if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
        inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], c.handshake->peer, sizeof c.handshake->peer);
      else
        inet_ntop(AF_INET6, &a6->sin6_addr, c.handshake->peer, sizeof c.handshake->peer);
    } else if (addr.ss_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, c.handshake->peer, sizeof c.handshake->peer);
    }
  }
  ::close(fd);
}

void Reactor::submit_tick() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &tick_interval_, 0, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kTick));
}

void Reactor::submit_wake_read() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kWake));
}

void Reactor::post_cross(Reactor& peer, SharedFrame* frame, uint32_t tag) {
  io_uring_sqe* sqe = get_sqe();
  // The peer receives a CQE whose user_data names the frame (it owns one reference) and
  // whose res carries the tag. A DEFER_TASKRUN target posts through task work and cannot
  // drop it for a full CQ (IORING_FEAT_NODROP), so a failure means the peer is gone.
  io_uring_prep_msg_ring(sqe, peer.ring_.ring_fd, tag, encode_ptr(Op::kCrossFrame, frame), 0);
  io_uring_sqe_set_data64(sqe, encode_ptr(Op::kCrossSent, frame, static_cast<uint8_t>(peer.id_)));
}

void Reactor::submit_drain_tick() {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_timeout(sqe, &drain_tick_interval_, 0, 0);
  io_uring_sqe_set_data64(sqe, encode_op(Op::kDrainTick));
}

// ---------------------------------------------------------------------------------------
// The loop

void Reactor::run() {
  start_ns_ = monotonic_ns();
  now_ns_ = start_ns_;
  arm_accept();
  submit_tick();
  submit_wake_read();
  io_uring_cqe* batch[kCqeBatch];
  io_uring_cqe copies[kCqeBatch];
  for (;;) {
    if (exiting_ && slab_.live_count() == 0) break;
    int ret = io_uring_submit_and_wait(&ring_, 1);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
      log_event(LogLevel::kError, "io_uring_enter_failed", "\"reactor\":%u,\"error\":\"%s\"", id_, strerror(-ret));
      break;
    }
    now_ns_ = monotonic_ns();
    now_ = static_cast<uint32_t>((now_ns_ - start_ns_) / 1000000000ull);
    // Harvest a batch, hand the CQ slots back, then act (STYLE.md habit 4): handlers may
    // submit, and submissions may need the CQ space.
    unsigned n;
    while ((n = io_uring_peek_batch_cqe(&ring_, batch, kCqeBatch)) > 0) {
      for (unsigned i = 0; i < n; ++i) copies[i] = *batch[i];
      io_uring_cq_advance(&ring_, n);
      for (unsigned i = 0; i < n; ++i) handle(copies[i]);
    }
    wheel_.advance(now_, &Reactor::on_timer);
    // Receives that found the buffer ring empty retry once buffers came back.
    buffers_.publish();
    if (!parked_.empty()) {
      // Swap with a kept vector: parking must not allocate on every starved iteration.
      retry_.swap(parked_);
      for (uint32_t index : retry_) {
        Connection* c = slab_.get(index);
        if (!c || !(c->flags & kParked)) continue;
        c->flags &= static_cast<uint8_t>(~kParked);
        if (c->state != ConnState::kTeardown && !(c->flags & kRecvInFlight)) submit_recv(*c, index);
      }
      retry_.clear();
    }
    if (exiting_ && static_cast<int32_t>(now_ - exit_deadline_) >= 0) {
      // Past the drain window and the close deadline: whoever is left is cut off.
      for (uint32_t i = 0; i < slab_.high_water(); ++i)
        if (Connection* c = slab_.get(i)) teardown(*c, i);
      if (static_cast<int32_t>(now_ - exit_deadline_) > 5) {
        // The kernel never completed some operations: say so rather than hang.
        uint32_t by_state[4] = {}, ops = 0;
        for (uint32_t i = 0; i < slab_.high_water(); ++i)
          if (Connection* c = slab_.get(i)) {
            ++by_state[static_cast<int>(c->state)];
            ops += c->ops_in_flight;
          }
        log_event(LogLevel::kWarn, "drain_incomplete",
                  "\"reactor\":%u,\"handshake\":%u,\"open\":%u,\"closing\":%u,\"teardown\":%u,\"ops\":%u", id_,
                  by_state[0], by_state[1], by_state[2], by_state[3], ops);
        break;
      }
    }
  }
}

void Reactor::handle(const io_uring_cqe& cqe) {
  uint64_t ud = cqe.user_data;
  switch (op_of(ud)) {
    case Op::kAccept:
      on_accept(cqe);
      return;
    case Op::kTick:
      if (!exiting_ || slab_.live_count() > 0) submit_tick();
      return;
    case Op::kDrainTick:
      on_drain_tick();
      return;
    case Op::kWake:
      // The main thread wakes us twice: to drain, and to exit once no reactor of the process
      // holds a WebSocket connection (until then every reactor keeps answering HTTP).
      if (state_.exit_now.load(std::memory_order_acquire))
        begin_exit();
      else
        begin_drain();
      if (!exiting_) submit_wake_read();
      return;
    case Op::kUntracked:
      return;
    case Op::kCrossFrame:
      on_posted(pointer_of<SharedFrame>(ud), static_cast<uint32_t>(cqe.res));
      return;
    case Op::kCrossSent:
      if (cqe.res < 0) {
        log_event(LogLevel::kWarn, "cross_reactor_post_failed", "\"reactor\":%u,\"peer\":%u,\"error\":\"%s\"", id_,
                  extra_of(ud), strerror(-cqe.res));
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
  uint32_t index = index_of(ud);
  Connection* c = slab_.get(index, generation_of(ud));
  if (!c) return;  // late completion for a slot since reused: nothing to do
  switch (op_of(ud)) {
    case Op::kPoll:
      on_poll(*c, index, cqe);
      break;
    case Op::kRecv:
      on_recv(*c, index, cqe);
      break;
    case Op::kSend:
      on_send(*c, index, cqe);
      break;
    case Op::kClose:
      op_done(*c, index);
      break;
    case Op::kPeerAddress:
      on_peer_address(*c, cqe);
      op_done(*c, index);
      break;
    case Op::kShutdown:
      c->shutdown_pending = 0;
      if (c->close_deferred) submit_close(*c, index);
      op_done(*c, index);
      break;
    default:
      break;
  }
}

void Reactor::op_done(Connection& c, uint32_t index) {
  --c.ops_in_flight;
  // The last completion naming the slot: nothing in the kernel refers to it any more.
  if (c.ops_in_flight == 0 && c.state == ConnState::kTeardown) free_slot(c, index);
}

void Reactor::on_accept(const io_uring_cqe& cqe) {
  if (!(cqe.flags & IORING_CQE_F_MORE)) accept_armed_ = false;
  if (cqe.res < 0) {
    if (cqe.res != -ECANCELED) {
      stats_.accept_errors.fetch_add(1, std::memory_order_relaxed);
      if (cqe.res == -ENFILE || cqe.res == -EMFILE)
        log_event(LogLevel::kWarn, "connection_table_full", "\"reactor\":%u,\"capacity\":%u", id_, max_connections_);
    }
  } else {
    // The slot is ours to choose, not the descriptor's index: with DEFER_TASKRUN a
    // cancelled poll can complete after the close of its descriptor, so the kernel may hand
    // the index to a new connection while the old slot still waits for that completion.
    int fd = cqe.res;
    uint32_t index = exiting_ ? kNoSlot : slab_.allocate();
    Connection* c = index == kNoSlot ? nullptr : slab_.get(index);
    if (!c) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_close_direct(sqe, static_cast<unsigned>(fd));
      io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
    } else {
      c->fd = fd;
      stats_.slots_in_use.store(slab_.live_count(), std::memory_order_relaxed);
      stats_.accepted.fetch_add(1, std::memory_order_relaxed);
      c->last_rx = now_;
      wheel_.schedule(index, now_ + config_.handshake_timeout);
      if (lookup_peers_) submit_peer_lookup(*c, index);
      arm_poll(*c, index);
    }
  }
  // A full table ends the multishot: it is re-armed here, and the next accept waits for a
  // close to free an index (the listener's backlog holds the clients meanwhile).
  if (!accept_armed_ && !exiting_) arm_accept();
}

void Reactor::on_poll(Connection& c, uint32_t index, const io_uring_cqe& cqe) {
  bool ended = !(cqe.flags & IORING_CQE_F_MORE);
  if (ended) c.flags &= static_cast<uint8_t>(~kPollArmed);
  if (c.state != ConnState::kTeardown) {
    if (cqe.res > 0 || (cqe.res < 0 && cqe.res != -ECANCELED)) {
      if (c.flags & kRecvInFlight)
        c.flags |= kRecvAgain;
      else if (!(c.flags & kParked))
        submit_recv(c, index);
    }
    // A multishot poll ends on CQ overflow or when the kernel drops it: re-arm. An error
    // ends the connection (the receive it triggered reports the cause).
    if (ended && cqe.res >= 0) arm_poll(c, index);
  }
  if (ended) op_done(c, index);
}

void Reactor::on_recv(Connection& c, uint32_t index, const io_uring_cqe& cqe) {
  c.flags &= static_cast<uint8_t>(~kRecvInFlight);
  int res = cqe.res;
  if (res > 0 && (cqe.flags & IORING_CQE_F_BUFFER)) {
    uint16_t bid = static_cast<uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    if (c.state != ConnState::kTeardown) {
      c.last_rx = now_;
      c.flags &= static_cast<uint8_t>(~kPingSent);
      stats_.bytes_in.fetch_add(static_cast<uint64_t>(res), std::memory_order_relaxed);
      handle_bytes(c, index, {buffers_.buffer(bid), static_cast<size_t>(res)});
    }
    // Every byte was parsed or copied out: the buffer goes straight back to the ring.
    buffers_.recycle(bid);
    // A full buffer likely left more behind; a readiness that arrived meanwhile too.
    if (c.state != ConnState::kTeardown &&
        (static_cast<uint32_t>(res) == buffers_.buffer_size() || (c.flags & kRecvAgain)))
      submit_recv(c, index);
  } else if (res == -EAGAIN || res == -EINTR) {
    if ((c.flags & kRecvAgain) && c.state != ConnState::kTeardown) submit_recv(c, index);
  } else if (res == -ENOBUFS) {
    // The ring ran dry: not the connection's fault. Retry when buffers come back.
    stats_.buffer_starvations.fetch_add(1, std::memory_order_relaxed);
    if (c.state != ConnState::kTeardown && !(c.flags & kParked)) {
      c.flags |= kParked;
      parked_.push_back(index);
    }
  } else if (res != -ECANCELED) {
    // 0 is end of stream (the peer closed without a close frame), the rest are errors.
    teardown(c, index);
  }
  op_done(c, index);
}

void Reactor::on_send(Connection& c, uint32_t index, const io_uring_cqe& cqe) {
  c.flags &= static_cast<uint8_t>(~kSendInFlight);
  if (cqe.res < 0) {
    if (cqe.res != -ECANCELED) teardown(c, index);
    op_done(c, index);
    return;
  }
  stats_.bytes_out.fetch_add(static_cast<uint64_t>(cqe.res), std::memory_order_relaxed);
  c.send_offset += static_cast<uint32_t>(cqe.res);
  c.queued_bytes -= static_cast<uint32_t>(cqe.res);
  SendNode* head = send_nodes_.get(c.send_head);
  if (c.send_offset == head->frame->size()) {
    SharedFrame* frame = head->frame;
    uint32_t next = head->next;
    send_nodes_.free(c.send_head);
    c.send_head = next;
    if (next == kNoSlot) c.send_tail = kNoSlot;
    c.send_offset = 0;
    // The send that drops the last reference completes the message's delivery.
    uint64_t origin = frame->origin_ns();
    if (frame->release() && origin) stats_.delivery_latency.observe_ns(now_ns_ - origin);
  }
  if (c.state != ConnState::kTeardown) {
    if (c.send_head != kNoSlot)
      submit_send(c, index);
    else if (c.flags & kCloseAfterSend)
      finish_close(c, index);
  }
  op_done(c, index);
}

TimerLink& Reactor::resolve_timer(void* self, uint32_t index) {
  return static_cast<Reactor*>(self)->slab_.get(index)->timer;
}

void Reactor::on_timer(void* self_ptr, uint32_t index) {
  auto& self = *static_cast<Reactor*>(self_ptr);
  Connection* c = self.slab_.get(index);
  if (!c) return;
  const Config& cfg = self.config_;
  switch (c->state) {
    case ConnState::kHandshake:
      c->close_reason = static_cast<uint8_t>(CloseReason::kHandshakeTimeout);
      self.teardown(*c, index);
      return;
    case ConnState::kClosing:
      self.teardown(*c, index);  // the peer never answered our close, or never read it
      return;
    case ConnState::kTeardown:
      return;
    case ConnState::kOpen:
      break;
  }
  uint32_t silent = self.now_ - c->last_rx;
  if (silent >= cfg.idle_timeout) {
    self.start_close(*c, index, 1001, "idle timeout", false, CloseReason::kIdleTimeout);
    return;
  }
  if (silent >= cfg.ping_interval && !(c->flags & kPingSent)) {
    c->flags |= kPingSent;
    if (self.ping_frame_) {
      self.ping_frame_->retain();
      self.enqueue(*c, index, self.ping_frame_, true);
    }
    if (c->state != ConnState::kOpen) return;
  }
  self.schedule_next_deadline(*c, index);
}

void Reactor::schedule_next_deadline(Connection& c, uint32_t index) {
  uint32_t due = c.flags & kPingSent ? c.last_rx + config_.idle_timeout : c.last_rx + config_.ping_interval;
  wheel_.schedule(index, due);
}

// ---------------------------------------------------------------------------------------
// Bytes in

void Reactor::handle_bytes(Connection& c, uint32_t index, std::span<const uint8_t> bytes) {
  switch (c.state) {
    case ConnState::kHandshake:
      handle_handshake(c, index, bytes);
      return;
    case ConnState::kOpen:
      feed_framer(c, index, bytes);
      return;
    case ConnState::kClosing:
      // Waiting for the peer's close frame; anything else it sends is read and dropped.
      if (!(c.flags & kCloseAfterSend)) feed_framer(c, index, bytes);
      return;
    case ConnState::kTeardown:
      return;
  }
}

void Reactor::handle_handshake(Connection& c, uint32_t index, std::span<const uint8_t> bytes) {
  const uint32_t capacity = config_.max_header_bytes;
  if (!c.handshake) {
    c.handshake = static_cast<HandshakeBuffer*>(std::malloc(sizeof(HandshakeBuffer) + capacity));
    if (!c.handshake) {
      c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
      teardown(c, index);
      return;
    }
    c.handshake->length = 0;
    c.handshake->peer[0] = '\0';
  }
  HandshakeBuffer& hs = *c.handshake;
  size_t take = bytes.size() < capacity - hs.length ? bytes.size() : capacity - hs.length;
  std::memcpy(hs.bytes + hs.length, bytes.data(), take);
  hs.length += static_cast<uint32_t>(take);

  HttpRequest request;
  HttpParseResult parsed = parse_http_request({hs.bytes, hs.length}, capacity, request);
  if (parsed.status == HttpParse::kPartial) {
    // A full buffer with no end of head in it: the head is longer than the limit.
    if (hs.length == capacity) refuse(c, index, 431, RefuseReason::kTooLarge, hs.peer);
    return;
  }
  // The client's address, for limits and logs: behind a trusted proxy the entry it appended.
  std::string_view address = hs.peer;
  if (parsed.status == HttpParse::kComplete && config_.trust_proxy && !request.x_forwarded_for.empty())
    address = rightmost_forwarded(request.x_forwarded_for);
  if (parsed.status == HttpParse::kError) {
    int status = parsed.error_status ? parsed.error_status : 400;
    refuse(c, index, status, status == 431 ? RefuseReason::kTooLarge : RefuseReason::kBadRequest, address);
    return;
  }
  RequestVerdict verdict = classify_request(request);
  if (verdict.kind == RequestKind::kReject) {
    RefuseReason why = verdict.status == 405   ? RefuseReason::kMethod
                       : verdict.status == 426 ? RefuseReason::kVersion
                                               : RefuseReason::kBadRequest;
    refuse(c, index, verdict.status, why, address);
    return;
  }
  if (verdict.kind == RequestKind::kPlainGet) {
    serve_plain_get(c, index, request.target);
    return;
  }
  if (!admit_upgrade(c, index, request, address)) return;

  // Upgrade: answer 101, give the request buffer back, and pass on what followed the head.
  char accept[kMax101Bytes];
  size_t n = write_switching_protocols(request.sec_websocket_key, accept);
  SharedFrame* response = SharedFrame::create(static_cast<uint32_t>(n));
  if (!response) {
    c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
    teardown(c, index);
    return;
  }
  std::memcpy(response->data(), accept, n);
  size_t head = request.head_bytes;
  HandshakeBuffer* buffer = c.handshake;  // request's views point into it until freed below
  c.state = ConnState::kOpen;
  c.reader = nullptr;
  c.upgraded = 1;
  stats_.upgraded.fetch_add(1, std::memory_order_relaxed);
  stats_.websocket_open.fetch_add(1, std::memory_order_relaxed);
  if (config_.log_connections) {
    // Both come from the client: escaped, so they cannot end their strings and add members.
    JsonEscaped<128> address_json(address);
    JsonEscaped<512> path_json(request.target);
    log_event(LogLevel::kInfo, "websocket_open", "\"conn\":\"%u.%u.%u\",\"address\":%s,\"path\":%s", id_, index,
              slab_.generation(index), address_json.c_str(), path_json.c_str());
  }
  enqueue(c, index, response, true);
  schedule_next_deadline(c, index);
  app_->on_open(*this, id_of(index), request.target);
  if (c.state == ConnState::kOpen && head < buffer->length)
    feed_framer(c, index, {reinterpret_cast<const uint8_t*>(buffer->bytes) + head, buffer->length - head});
  std::free(buffer);
  if (c.state == ConnState::kOpen && take < bytes.size()) feed_framer(c, index, bytes.subspan(take));
}

bool Reactor::admit_upgrade(Connection& c, uint32_t index, const HttpRequest& request, std::string_view address) {
  if (draining_ || state_.draining.load(std::memory_order_relaxed)) {
    refuse(c, index, 503, RefuseReason::kDraining, address);
    return false;
  }
  if (!state_.origin_allowed(request.origin)) {
    refuse(c, index, 403, RefuseReason::kOrigin, address);
    return false;
  }
  if (config_.max_connections &&
      state_.websocket_open.fetch_add(1, std::memory_order_relaxed) >= int64_t(config_.max_connections)) {
    state_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
    refuse(c, index, 503, RefuseReason::kCapacity, address);
    return false;
  }
  if (!config_.max_connections) state_.websocket_open.fetch_add(1, std::memory_order_relaxed);
  if (config_.max_per_address) {
    uint32_t handle = 0;  // stays 0 for an unknown (empty) address, which is not counted
    if (!state_.addresses.try_acquire(address, handle)) {
      state_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
      refuse(c, index, 429, RefuseReason::kPerAddress, address);
      return false;
    }
    c.client_key = handle;
  }
  return true;
}

void Reactor::refuse(Connection& c, uint32_t index, int status, RefuseReason why, std::string_view address) {
  stats_.refused_by[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  JsonEscaped<128> address_json(address);  // possibly an X-Forwarded-For entry: client text
  log_event(LogLevel::kInfo, "handshake_refused", "\"status\":%d,\"reason\":\"%s\",\"address\":%s", status,
            refuse_reason_name(why), address_json.c_str());
  respond_and_close(c, index, status);
}

void Reactor::serve_plain_get(Connection& c, uint32_t index, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/healthz") {
    bool draining = draining_ || state_.draining.load(std::memory_order_relaxed);
    respond_and_close(c, index, draining ? 503 : 200, draining ? "draining\n" : "ok\n");
  } else if (path == "/metrics") {
    respond_and_close(c, index, 200, render_prometheus(state_), "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/" || path == "/index.html") {
    respond_and_close(c, index, 200, demo_page(), "text/html; charset=utf-8");
  } else {
    respond_and_close(c, index, 404);
  }
}

void Reactor::respond_and_close(Connection& c, uint32_t index, int status, std::string_view body,
                                std::string_view content_type) {
  std::free(c.handshake);
  c.handshake = nullptr;
  c.close_reason = static_cast<uint8_t>(CloseReason::kHttp);
  std::string text = simple_response(status, body, content_type);
  SharedFrame* frame = SharedFrame::create(static_cast<uint32_t>(text.size()));
  if (!frame) {
    teardown(c, index);
    return;
  }
  std::memcpy(frame->data(), text.data(), text.size());
  c.state = ConnState::kClosing;
  c.flags |= kCloseAfterSend;
  c.reader = nullptr;
  wheel_.schedule(index, now_ + config_.close_timeout);
  enqueue(c, index, frame, true);
}

void Reactor::feed_framer(Connection& c, uint32_t index, std::span<const uint8_t> bytes) {
  current_ = index;
  FeedResult result = framer_.feed(c.reader, bytes, *this);
  current_ = kNoSlot;
  if (result.status == FeedStatus::kFail && c.state != ConnState::kTeardown)
    start_close(c, index, result.close_code, {}, false, reason_for_code(result.close_code));
}

// FrameSink -----------------------------------------------------------------------------

void Reactor::on_message(Opcode opcode, std::span<const uint8_t> payload) {
  Connection* c = slab_.get(current_);
  if (!c || c->state != ConnState::kOpen) return;
  stats_.messages_in.fetch_add(1, std::memory_order_relaxed);
  app_->on_message(*this, id_of(current_), opcode, payload);
}

void Reactor::on_ping(std::span<const uint8_t> payload) {
  Connection* c = slab_.get(current_);
  if (!c || c->state != ConnState::kOpen) return;
  if (SharedFrame* pong = make_frame(Opcode::kPong, payload)) enqueue(*c, current_, pong, true);
}

void Reactor::on_pong(std::span<const uint8_t>) {}  // its arrival already counted as activity

void Reactor::on_close(uint16_t code, std::string_view /*reason*/) {
  uint32_t index = current_;
  Connection* c = slab_.get(index);
  if (!c) return;
  c->flags |= kCloseReceived;
  if (c->state == ConnState::kClosing) {
    // The answer to our close: the handshake is complete once our frame is out.
    c->flags |= kCloseAfterSend;
    if (c->send_head == kNoSlot) finish_close(*c, index);
    return;
  }
  // Echo the peer's status code (RFC 6455 section 5.5.1); none for a close without one.
  start_close(*c, index, code, {}, false, CloseReason::kNormal);
}

// ---------------------------------------------------------------------------------------
// Bytes out and closing

bool Reactor::enqueue(Connection& c, uint32_t index, SharedFrame* frame, bool exempt_from_cap) {
  if (c.state == ConnState::kTeardown) {
    frame->release();
    return false;
  }
  // The cap counts what is already waiting: a frame always fits into an empty queue (a
  // message as large as the cap must still be deliverable), so a connection holds at most
  // max(cap, one frame) of queued bytes.
  if (!exempt_from_cap && c.queued_bytes > 0 && uint64_t(c.queued_bytes) + frame->size() > config_.max_backlog) {
    frame->release();
    // Drop what is queued but not yet being sent, then say why we close (1008).
    uint32_t n = c.send_head;
    if (n != kNoSlot && (c.flags & kSendInFlight)) {
      SendNode* in_flight = send_nodes_.get(n);
      n = in_flight->next;
      in_flight->next = kNoSlot;
      c.send_tail = c.send_head;
      c.queued_bytes = in_flight->frame->size() - c.send_offset;
    } else {
      c.send_head = c.send_tail = kNoSlot;
      c.queued_bytes = 0;
      c.send_offset = 0;
    }
    while (n != kNoSlot) {
      SendNode* node = send_nodes_.get(n);
      uint32_t next = node->next;
      node->frame->release();
      send_nodes_.free(n);
      n = next;
    }
    start_close(c, index, 1008, "slow consumer", false, CloseReason::kSlowConsumer);
    return false;
  }
  uint32_t node_index = send_nodes_.allocate();
  if (node_index == kNoSlot) {
    frame->release();
    c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
    teardown(c, index);
    return false;
  }
  send_nodes_.get(node_index)->frame = frame;
  if (c.send_tail != kNoSlot)
    send_nodes_.get(c.send_tail)->next = node_index;
  else
    c.send_head = node_index;
  c.send_tail = node_index;
  c.queued_bytes += frame->size();
  stats_.messages_out.fetch_add(1, std::memory_order_relaxed);
  if (!(c.flags & kSendInFlight)) submit_send(c, index);
  return true;
}

void Reactor::start_close(Connection& c, uint32_t index, uint16_t code, std::string_view reason, bool wait_for_peer,
                          CloseReason why) {
  if (c.state != ConnState::kOpen) return;
  app_->on_close(*this, id_of(index));
  c.state = ConnState::kClosing;
  c.close_reason = static_cast<uint8_t>(why);
  // After a failure or the peer's own close, our frame is the last word; after a close we
  // start, the peer may answer before the close deadline.
  if (!wait_for_peer || (c.flags & kCloseReceived)) c.flags |= kCloseAfterSend;
  wheel_.schedule(index, now_ + config_.close_timeout);
  SharedFrame* frame = make_close_frame(code, reason);
  if (!frame) {
    teardown(c, index);
    return;
  }
  enqueue(c, index, frame, true);
}

void Reactor::finish_close(Connection& c, uint32_t index) {
  if (c.flags & kCloseReceived) {
    teardown(c, index);  // the close handshake is complete: the server closes TCP first
    return;
  }
  // We failed the connection or refused the request while the peer may still be sending.
  // Closing now would answer its next bytes with a reset, which can destroy our last frame
  // or response before the peer reads it. Half-close instead, and keep reading (and
  // dropping) until the peer closes or the close deadline set in start_close passes.
  // IORING_OP_SHUTDOWN runs in io-wq and may look the descriptor up late: if the descriptor
  // were closed and its index given to a new connection meanwhile, it would shut the new
  // one. Teardown therefore closes only after this completes (close_deferred).
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kShutdown, index, slab_.generation(index)));
  c.shutdown_pending = 1;
  ++c.ops_in_flight;
}

void Reactor::teardown(Connection& c, uint32_t index) {
  if (c.state == ConnState::kTeardown) return;
  if (c.state == ConnState::kOpen) app_->on_close(*this, id_of(index));
  if (c.state == ConnState::kHandshake) {
    // Only user space names the request buffer: give it back now.
    std::free(c.handshake);
    c.handshake = nullptr;
  }
  if (c.state == ConnState::kOpen && (c.flags & kCloseReceived))
    c.close_reason = static_cast<uint8_t>(CloseReason::kNormal);
  c.state = ConnState::kTeardown;
  stats_.closed.fetch_add(1, std::memory_order_relaxed);
  stats_.closed_by[c.close_reason].fetch_add(1, std::memory_order_relaxed);
  if (c.upgraded) {
    stats_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
    state_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
    state_.addresses.release(c.client_key);
    if (config_.log_connections)
      log_event(LogLevel::kInfo, "websocket_close", "\"conn\":\"%u.%u.%u\",\"reason\":\"%s\"", id_, index,
                slab_.generation(index), close_reason_name(static_cast<CloseReason>(c.close_reason)));
  }
  wheel_.cancel(index);
  // Cancel what may be armed (the poll, a send waiting for socket space; receives never
  // wait), and close. Cancelling by user_data is a hash lookup (cancelling by descriptor
  // walks every armed poll of the ring, which made closing N connections cost N^2), and it
  // finds the request whether or not the close ran first: no link between them is needed.
  uint16_t gen = slab_.generation(index);
  for (Op op : {Op::kPoll, Op::kSend}) {
    if (!(c.flags & (op == Op::kPoll ? kPollArmed : kSendInFlight))) continue;
    io_uring_sqe* cancel = get_sqe();
    io_uring_prep_cancel64(cancel, encode_conn(op, index, gen), 0);
    io_uring_sqe_set_data64(cancel, encode_op(Op::kUntracked));
  }
  if (c.shutdown_pending)
    c.close_deferred = 1;
  else
    submit_close(c, index);
}

void Reactor::submit_close(Connection& c, uint32_t index) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_close_direct(sqe, static_cast<unsigned>(c.fd));
  io_uring_sqe_set_data64(sqe, encode_conn(Op::kClose, index, slab_.generation(index)));
  ++c.ops_in_flight;
}

void Reactor::free_slot(Connection& c, uint32_t index) {
  // Teardown already freed a request buffer, so the union holds null or a reader.
  if (c.state == ConnState::kHandshake)
    std::free(c.handshake);
  else if (c.reader)
    framer_.release(c.reader);
  for (uint32_t n = c.send_head; n != kNoSlot;) {
    SendNode* node = send_nodes_.get(n);
    uint32_t next = node->next;
    node->frame->release();
    send_nodes_.free(n);
    n = next;
  }
  if (c.timer.linked()) wheel_.cancel(index);
  slab_.free(index);
  stats_.slots_in_use.store(slab_.live_count(), std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// The drain (DESIGN.md section 3: what an ALB target does between SIGTERM and SIGKILL)

void Reactor::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_start_ns_ = now_ns_;
  submit_drain_tick();
  on_drain_tick();  // the first batch goes at once
}

void Reactor::on_drain_tick() {
  if (exiting_) return;
  // Close every connection whose jitter falls below the elapsed share of the window, so
  // closes (and the clients' reconnects elsewhere) spread evenly over --drain-seconds.
  uint64_t window_ns = uint64_t(config_.drain_seconds) * 1000000000ull;
  uint64_t elapsed = now_ns_ - drain_start_ns_;
  uint32_t threshold = window_ns == 0 || elapsed >= window_ns ? 1024 : static_cast<uint32_t>(elapsed * 1024 / window_ns);
  for (uint32_t i = 0; i < slab_.high_water(); ++i) {
    Connection* c = slab_.get(i);
    if (c && c->state == ConnState::kOpen && drain_slot_jitter(i, slab_.generation(i)) < threshold)
      start_close(*c, i, 1001, "server shutting down", true, CloseReason::kShutdown);
  }
  if (threshold < 1024) submit_drain_tick();
}

void Reactor::begin_exit() {
  // No WebSocket connection is left in the process: stop listening, cut what is left.
  if (exiting_) return;
  exiting_ = true;
  exit_deadline_ = now_ + config_.close_timeout;
  if (accept_armed_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, encode_op(Op::kAccept), 0);
    io_uring_sqe_set_data64(sqe, encode_op(Op::kUntracked));
  }
  // The armed accept holds its own reference to the socket until the cancel completes.
  ::close(listen_fd_);
  listen_fd_ = -1;
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i)) teardown(*c, i);
  // Hand the cancel to the kernel now: the loop may end before its next submission, and
  // the armed accept would keep the socket in the SO_REUSEPORT group until the ring goes.
  io_uring_submit(&ring_);
}

// ---------------------------------------------------------------------------------------
// The connection API

void Reactor::send(ConnId id, SharedFrame* frame) {
  Connection* c = resolve(id);
  if (!c || c->state != ConnState::kOpen) {
    frame->release();
    return;
  }
  enqueue(*c, id.index, frame);
}

void Reactor::send_local(uint32_t index, SharedFrame* frame) {
  Connection* c = slab_.get(index);
  if (!c || c->state != ConnState::kOpen) {
    frame->release();
    return;
  }
  enqueue(*c, index, frame);
}

void Reactor::close(ConnId id, uint16_t code, std::string_view reason) {
  if (Connection* c = resolve(id)) start_close(*c, id.index, code, reason, true, CloseReason::kApplication);
}

void Reactor::post(unsigned peer, SharedFrame* frame, uint32_t tag) {
  if (peer == id_) {
    on_posted(frame, tag);
  } else if (peer < peers_.size()) {
    post_cross(*peers_[peer], frame, tag);
  } else {
    frame->release();
  }
}

void Reactor::broadcast(SharedFrame* frame) {
  for (Reactor* peer : peers_) {
    if (peer == this) continue;
    frame->retain();
    post_cross(*peer, frame, kBroadcastTag);
  }
  on_cross_frame(frame);
}

void Reactor::on_posted(SharedFrame* frame, uint32_t tag) {
  if (tag == kBroadcastTag)
    on_cross_frame(frame);
  else
    app_->on_posted(*this, frame, tag);
}

void Reactor::on_cross_frame(SharedFrame* frame) {
  // One frame, many references: count the recipients first, then take them in one add.
  uint32_t recipients = 0;
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i); c && c->state == ConnState::kOpen) ++recipients;
  if (recipients) frame->retain(recipients);
  count_fanout(recipients);
  for (uint32_t i = 0; i < slab_.high_water() && recipients; ++i) {
    Connection* c = slab_.get(i);
    if (c && c->state == ConnState::kOpen) {
      enqueue(*c, i, frame);
      --recipients;
    }
  }
  while (recipients--) frame->release();  // recipients that closed during the walk
  frame->release();
}

}  // namespace ringws
