#include "core/epoll/epoll_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/engine/engine.h"
#include "core/log.h"

namespace ringws {

namespace {

constexpr size_t kEventBatch = 256;
constexpr int kAcceptsPerEvent = 64;   // then other events get their turn
constexpr int kReadsPerEvent = 16;     // edge-triggered: then the connection waits a turn
constexpr size_t kSendScratchBytes = 16 * 1024;  // gathers up to this size are copied, then sent
constexpr uint64_t kListenerTag = ~0ull;
constexpr uint64_t kWakeTag = ~0ull - 1;
constexpr uint64_t kAdminTag = ~0ull - 2;
// A watched descriptor's events carry this bit, the watch's generation and its index;
// connection ids never set bits above 47.
constexpr uint64_t kWatchBit = 1ull << 62;

uint64_t watch_tag(uint32_t index, uint16_t generation) { return kWatchBit | (uint64_t(generation) << 32) | index; }

// This backend's bits in Connection::backend_flags.
enum EpollFlag : uint8_t {
  kWriteBlocked = 1 << 0,  ///< the socket took part of a send: waiting for EPOLLOUT
  kWatched = 1 << 1,       ///< in the epoll set
};

ConnId conn_of(uint64_t value) { return {static_cast<uint32_t>(value), static_cast<uint16_t>(value >> 32)}; }

constexpr char k503[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n"
    "Connection: close\r\n\r\nout of descriptors\r\n\r\n";

}  // namespace

EpollBackend::EpollBackend(Engine& engine, int listen_fd, EpollSettings settings, DescriptorBudget& budget,
                           int admin_fd)
    : engine_(engine),
      listen_fd_(listen_fd),
      admin_fd_(admin_fd),
      settings_(settings),
      budget_(budget),
      events_(kEventBatch) {}

EpollBackend::~EpollBackend() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (admin_fd_ >= 0) ::close(admin_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (spare_fd_ >= 0) ::close(spare_fd_);
}

int EpollBackend::setup(const char*& what) {
  what = "epoll_create1";
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return -errno;
  what = "eventfd";
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return -errno;
  what = "listener";
  int flags = fcntl(listen_fd_, F_GETFL);
  if (flags < 0 || fcntl(listen_fd_, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) return -errno;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) < 0) return -errno;
  if (admin_fd_ >= 0) {
    what = "admin listener";
    int admin_flags = fcntl(admin_fd_, F_GETFL);
    if (admin_flags < 0 || fcntl(admin_fd_, F_SETFL, admin_flags | O_NONBLOCK) < 0) return -errno;
    ev.data.u64 = kAdminTag;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, admin_fd_, &ev) < 0) return -errno;
  }
  what = "spare descriptor";
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (spare_fd_ < 0) return -errno;
  buffer_.resize(settings_.buffer_size);
  send_scratch_.resize(kSendScratchBytes);
  return 0;
}

void EpollBackend::wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

int EpollBackend::wait_timeout_ms() const {
  if (!unread_.empty()) return 0;
  uint64_t now = monotonic_ns(), want = engine_.next_wakeup_ns();
  if (want <= now) return 0;
  uint64_t ms = (want - now + 999999) / 1000000;
  return ms > 1000 ? 1000 : static_cast<int>(ms);
}

void EpollBackend::run() {
  engine_.begin_iteration(monotonic_ns());
  while (!engine_.finished()) {
    int n = epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), wait_timeout_ms());
    if (n < 0 && errno != EINTR) {
      log_event(LogLevel::kError, "epoll_wait_failed", "\"reactor\":%u,\"error\":\"%s\"", engine_.id(),
                strerror(errno));
      break;
    }
    engine_.begin_iteration(monotonic_ns());
    // Edge-triggered connections that had more than their share last time go first.
    if (!unread_.empty()) {
      retry_.swap(unread_);
      for (ConnId id : retry_)
        if (Connection* c = engine_.connection(id); c && c->state != ConnState::kTeardown && read_ready(*c, id))
          unread_.push_back(id);
      retry_.clear();
    }
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events_[static_cast<size_t>(i)];
      if (ev.data.u64 == kListenerTag || ev.data.u64 == kAdminTag) {
        bool admin = ev.data.u64 == kAdminTag;
        accept_ready(admin ? admin_fd_ : listen_fd_, admin);
        continue;
      }
      if (ev.data.u64 == kWakeTag) {
        uint64_t value;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &value, sizeof value);
        take_posts();
        continue;
      }
      if (ev.data.u64 & kWatchBit) {
        uint32_t index = static_cast<uint32_t>(ev.data.u64);
        if (FdWatches::Watch* w = watches_.resolve(index, static_cast<uint16_t>(ev.data.u64 >> 32)))
          w->watcher->on_fd_ready(w->fd, ev.events & (EPOLLIN | EPOLLHUP), ev.events & EPOLLOUT,
                                  ev.events & (EPOLLERR | EPOLLHUP));
        continue;
      }
      ConnId id = conn_of(ev.data.u64);
      Connection* c = engine_.connection(id);
      if (!c || c->state == ConnState::kTeardown) continue;  // closed earlier in this batch
      if ((ev.events & EPOLLOUT) && (c->backend_flags & kWriteBlocked)) write_ready(*c, id);
      if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && c->state != ConnState::kTeardown &&
          read_ready(*c, id))
        unread_.push_back(id);
    }
    engine_.end_iteration();
  }
}

// ---------------------------------------------------------------------------------------
// Accepting

void EpollBackend::accept_ready(int listen_fd, bool admin) {
  for (int i = 0; i < kAcceptsPerEvent && listen_fd >= 0; ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) refuse_over_limit(listen_fd);
      return;  // EAGAIN: the backlog is empty
    }
    int64_t open = budget_.open.fetch_add(1, std::memory_order_relaxed) + 1;
    // Near the descriptor limit, new connections may still ask for /healthz or /metrics,
    // but not become WebSocket connections.
    bool limited = !admin && open > budget_.limit - budget_.reserve;
    ConnId id = engine_.on_accepted(fd, reinterpret_cast<sockaddr*>(&addr), limited, admin);
    if (id.index == kNoSlot) {
      ::close(fd);
      budget_.open.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

void EpollBackend::refuse_over_limit(int listen_fd) {
  // Out of descriptors: the listener stays readable, so without this every epoll_wait
  // would return at once. Give up the spare descriptor to take one client off the
  // backlog, tell it why, and take the spare back.
  engine_.stats().accept_errors.fetch_add(1, std::memory_order_relaxed);
  ::close(spare_fd_);
  int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    [[maybe_unused]] ssize_t n = ::send(fd, k503, sizeof k503 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    engine_.stats().refused_by[static_cast<size_t>(RefuseReason::kCapacity)].fetch_add(1, std::memory_order_relaxed);
  }
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void EpollBackend::watch(Connection& c, ConnId id) {
  epoll_event ev{};
  // Edge-triggered registers for both directions once and never changes; level-triggered
  // adds EPOLLOUT only while a send is blocked.
  ev.events = EPOLLIN | EPOLLRDHUP | (settings_.edge_triggered ? (EPOLLOUT | EPOLLET) : 0u);
  ev.data.u64 = id.value();
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c.fd, &ev) < 0) {
    // ENOMEM or ENOSPC (fs.epoll.max_user_watches): the connection cannot be served.
    log_event(LogLevel::kWarn, "epoll_ctl_failed", "\"reactor\":%u,\"error\":\"%s\"", engine_.id(), strerror(errno));
    engine_.on_peer_gone(c, id, -errno);
    return;
  }
  c.backend_flags |= kWatched;
}

// ---------------------------------------------------------------------------------------
// Bytes in and out

bool EpollBackend::read_ready(Connection& c, ConnId id) {
  // Level-triggered: one read per readiness; what is left is reported again. Edge-
  // triggered: read until the socket is drained (a short read), up to a fair share.
  int reads = settings_.edge_triggered ? kReadsPerEvent : 1;
  for (int i = 0; i < reads; ++i) {
    ssize_t n = ::recv(c.fd, buffer_.data(), buffer_.size(), 0);
    if (n > 0) {
      engine_.on_bytes(c, id, {buffer_.data(), static_cast<size_t>(n)});
      if (c.state == ConnState::kTeardown || static_cast<size_t>(n) < buffer_.size()) return false;
      continue;
    }
    if (n == 0) {
      engine_.on_peer_gone(c, id, 0);
      return false;
    }
    if (errno == EAGAIN || errno == EINTR) return false;
    engine_.on_peer_gone(c, id, -errno);
    return false;
  }
  return settings_.edge_triggered;
}

SendResult EpollBackend::send(Connection& c, ConnId id, std::span<const iovec> iov, size_t bytes) {
  ssize_t n;
  if (iov.size() > 1 && bytes <= send_scratch_.size()) {
    // Several small frames: one contiguous copy here is cheaper than the kernel importing
    // and walking an iovec per frame. The copy is only needed during the call: whatever
    // the socket does not take stays queued by reference.
    size_t at = 0;
    for (const iovec& v : iov) {
      std::memcpy(send_scratch_.data() + at, v.iov_base, v.iov_len);
      at += v.iov_len;
    }
    n = ::send(c.fd, send_scratch_.data(), bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
  } else {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(iov.data());
    msg.msg_iovlen = iov.size();
    n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) return {-errno, false};
    n = 0;
  }
  if (static_cast<size_t>(n) == bytes) return {static_cast<int32_t>(n), false};
  // The socket buffer is full: wait until it drains (Engine::on_send_done follows).
  c.backend_flags |= kWriteBlocked;
  if (!settings_.edge_triggered) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT;
    ev.data.u64 = id.value();
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }
  return {static_cast<int32_t>(n), true};
}

void EpollBackend::write_ready(Connection& c, ConnId id) {
  c.backend_flags = static_cast<uint8_t>(c.backend_flags & ~kWriteBlocked);
  if (!settings_.edge_triggered) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id.value();
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  }
  engine_.on_send_done(c, id, 0);  // nothing more was written; the engine sends the rest
}

void EpollBackend::shutdown_write(Connection& c, ConnId) { ::shutdown(c.fd, SHUT_WR); }

void EpollBackend::close(Connection& c, ConnId id) {
  // Closing the socket also removes it from the epoll set (it was never duplicated).
  if (c.fd >= 0) {
    ::close(c.fd);
    budget_.open.fetch_sub(1, std::memory_order_relaxed);
    c.fd = -1;
  }
  c.backend_flags = 0;
  if (c.flags & kSendPending) engine_.on_send_done(c, id, -ECANCELED);
  engine_.on_released(id);
}

void EpollBackend::stop_listening() {
  if (listen_fd_ < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  ::close(listen_fd_);
  listen_fd_ = -1;
  if (admin_fd_ >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, admin_fd_, nullptr);
    ::close(admin_fd_);
    admin_fd_ = -1;
  }
}

// ---------------------------------------------------------------------------------------
// Posts between reactors

void EpollBackend::post(Backend& peer_backend, SharedFrame* frame, uint32_t tag) {
  auto& peer = static_cast<EpollBackend&>(peer_backend);
  // Only the post that finds the queue empty wakes the peer: until it drains the queue,
  // one wake-up covers everything behind it.
  if (peer.posts_.push(frame, tag) == PostQueue::Pushed::kWasEmpty) peer.wake();
}

void EpollBackend::take_posts() {
  posts_.drain([this](SharedFrame* frame, uint32_t tag) { engine_.on_posted(frame, tag); });
}

void EpollBackend::take_late_posts(const std::atomic<unsigned>& loops_running) {
  for (;;) {
    bool last = loops_running.load(std::memory_order_acquire) == 0;  // before the drain, as on io_uring
    take_posts();
    if (last) return;
    pollfd woken{.fd = wake_fd_, .events = POLLIN, .revents = 0};
    if (::poll(&woken, 1, 10) > 0) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Descriptors the app watches

int EpollBackend::watch_fd(int fd, bool read, bool write, FdWatcher& watcher) {
  bool known = watches_.find(fd) >= 0;
  uint32_t index = watches_.find_or_add(fd);
  FdWatches::Watch& w = watches_.at(index);
  w.watcher = &watcher;
  w.read = read;
  w.write = write;
  epoll_event ev{};
  ev.events = (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
  ev.data.u64 = watch_tag(index, w.generation);
  if (epoll_ctl(epoll_fd_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = -errno;
    if (!known) watches_.remove(index);
    return err;
  }
  return 0;
}

void EpollBackend::unwatch_fd(int fd) {
  int index = watches_.find(fd);
  if (index < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  watches_.remove(static_cast<uint32_t>(index));
}

}  // namespace ringws
