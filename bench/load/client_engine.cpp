#include "bench/load/client_engine.h"

#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace ringws::load {

namespace {

sockaddr_storage g_target{};
socklen_t g_target_len = 0;

constexpr uint64_t kWatchTag = ~uint64_t{0};  // epoll data of the watched descriptor

uint64_t secs_to_ns(double s) { return uint64_t(s * 1e9); }

}  // namespace

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

ClientEngine::ClientEngine(const Options& o, unsigned source_offset) : o_(o), source_offset_(source_offset) {
  uint64_t seed = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
  rng_.s = seed | 1;
  read_buf_.resize(64 * 1024);
}

ClientEngine::~ClientEngine() {
  for (ClientConn& c : conns_)
    if (c.fd >= 0) ::close(c.fd);
  if (ep_ >= 0) ::close(ep_);
}

bool open_client_epoll(int& ep, uint64_t& max_fds, std::string& error) {
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    error = std::string("epoll_create1: ") + strerror(errno);
    return false;
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  max_fds = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 1;
  return true;
}

bool ClientEngine::init(std::string& error) { return open_client_epoll(ep_, max_fds_, error); }

bool ClientEngine::watch_fd(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWatchTag;
  return epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

int ClientEngine::start_connection() {
  uint32_t slot = conns_.acquire();
  ClientConn& c = conns_[slot];
  c.t0 = now_;
  c.seq = 0;
  c.sent_close = false;
  c.out_armed = false;
  c.state = ConnState::kConnecting;
  c_.attempted++;
  connecting_++;
  std::string error;
  c.fd = open_client_socket(o_, source_offset_ + source_next_++, error);
  if (c.fd < 0) {
    fail(slot, &Counters::failed_refused, error);
    return -1;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.u64 = conns_.tag(slot);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    fail(slot, &Counters::failed_refused, std::string("epoll_ctl: ") + strerror(errno));
    return -1;
  }
  c.out_armed = true;
  deadlines_.push_back({now_ + secs_to_ns(o_.handshake_timeout), slot, c.gen});
  return int(slot);
}

void ClientEngine::fail(uint32_t slot, uint64_t Counters::*why, const std::string& error) {
  c_.failed++;
  c_.*why += 1;
  last_error_ = error;
  destroy(slot);
}

void ClientEngine::lost(uint32_t slot) {
  ClientConn& c = conns_[slot];
  if (c.state == ConnState::kClosing) {
    c_.closed_by_client++;
  } else {
    c_.closed_by_server++;
    closed_after_.record(now_ - c.t0);
  }
  destroy(slot);
}

void ClientEngine::destroy(uint32_t slot) {
  ClientConn& c = conns_[slot];
  if (c.state == ConnState::kFree) return;  // already gone (a failed send, then its caller)
  if (c.state == ConnState::kConnecting || c.state == ConnState::kHandshake) connecting_--;
  if (c.state == ConnState::kOpen || c.state == ConnState::kClosing) {
    c_.open_now--;
    uint32_t pos = c.open_pos, last = open_list_.back();
    open_list_[pos] = last;
    conns_[last].open_pos = pos;
    open_list_.pop_back();
  }
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.state = ConnState::kFree;
  c.key.reset();
  c.in.reset();
  c.out.reset();
  c.msg.reset();
  conns_.release(slot);  // events already harvested for this slot are now stale
}

void ClientEngine::expire(uint64_t now) {
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    Deadline d = deadlines_.front();
    deadlines_.pop_front();
    if (!conns_.alive(d.slot, d.gen)) continue;
    ConnState s = conns_[d.slot].state;
    if (s == ConnState::kConnecting || s == ConnState::kHandshake)
      fail(d.slot, &Counters::failed_timeout, "no 101 within --handshake-timeout");
    else if (s == ConnState::kClosing)
      lost(d.slot);  // the server never answered our close frame: give up on it
  }
}

void ClientEngine::set_out_armed(uint32_t slot, bool on) {
  ClientConn& c = conns_[slot];
  if (c.out_armed == on) return;
  epoll_event ev{};
  ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u64 = conns_.tag(slot);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out_armed = on;
}

void ClientEngine::write_bytes(uint32_t slot, const std::string& bytes) {
  ClientConn& c = conns_[slot];
  c_.bytes_sent += bytes.size();
  if (c.out && !c.out->empty()) {
    if (c.out->size() + bytes.size() > (64u << 20)) {  // bounded: a server that stopped reading
      last_error_ = "server stopped reading (64 MiB unsent)";
      return lost(slot);
    }
    c.out->append(bytes);
    return;
  }
  ssize_t n = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return lost(slot);
    n = 0;
  }
  if (size_t(n) < bytes.size()) {
    if (!c.out) c.out = std::make_unique<std::string>();
    c.out->assign(bytes, size_t(n));
    set_out_armed(slot, true);
  }
}

void ClientEngine::flush(uint32_t slot) {
  ClientConn& c = conns_[slot];
  if (!c.out || c.out->empty()) return set_out_armed(slot, false);
  ssize_t n = ::send(c.fd, c.out->data(), c.out->size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) lost(slot);
    return;
  }
  c.out->erase(0, size_t(n));
  if (c.out->empty()) {
    c.out.reset();
    set_out_armed(slot, false);
  }
}

void ClientEngine::send_frame(uint32_t slot, WsOp op, std::span<const uint8_t> payload) {
  frame_.clear();
  encode_frame(frame_, op, payload, uint32_t(rng_.next()));
  write_bytes(slot, frame_);
}

void ClientEngine::start_close(uint32_t slot) {
  ClientConn& c = conns_[slot];
  if (c.state != ConnState::kOpen) return;
  static constexpr uint8_t kNormal[2] = {0x03, 0xe8};  // 1000
  c.state = ConnState::kClosing;
  c.sent_close = true;
  send_frame(slot, WsOp::kClose, std::span<const uint8_t>(kNormal, 2));
  if (conns_[slot].state == ConnState::kClosing)
    deadlines_.push_back({now_ + secs_to_ns(std::min(o_.handshake_timeout, 5.0)), slot, c.gen});
}

void ClientEngine::on_event(uint32_t slot, uint32_t events) {
  ClientConn& c = conns_[slot];
  switch (c.state) {
    case ConnState::kConnecting:
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(slot);
      break;
    case ConnState::kHandshake:
    case ConnState::kOpen:
    case ConnState::kClosing:
      if (events & EPOLLOUT) flush(slot);
      if (c.state != ConnState::kFree && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(slot);
      break;
    case ConnState::kFree:
      break;
  }
}

void ClientEngine::on_connected(uint32_t slot) {
  ClientConn& c = conns_[slot];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(slot, &Counters::failed_refused, std::string("connect: ") + strerror(err));
  c.state = ConnState::kHandshake;
  c.key = std::make_unique<std::string>(make_websocket_key());
  request_ = make_upgrade_request(o_.url.host_header, o_.url.path, *c.key);
  set_out_armed(slot, false);
  write_bytes(slot, request_);
}

void ClientEngine::on_readable(uint32_t slot) {
  ClientConn& c = conns_[slot];
  ssize_t n = ::recv(c.fd, read_buf_.data(), read_buf_.size(), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    if (c.state == ConnState::kHandshake)
      return fail(slot, &Counters::failed_handshake, n == 0 ? "server closed during the handshake"
                                                            : std::string("recv: ") + strerror(errno));
    if (c.state == ConnState::kOpen) c_.closed_no_frame++;
    return lost(slot);
  }
  c_.bytes_received += uint64_t(n);
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(read_buf_.data()), size_t(n));
  if (c.state == ConnState::kHandshake) {
    if (!c.in) c.in = std::make_unique<std::string>();
    c.in->append(read_buf_.data(), size_t(n));
    HandshakeResult h = parse_upgrade_response(*c.in, *c.key);
    if (h.status == ParseStatus::kNeedMore) return;
    if (h.status == ParseStatus::kError) {
      if (h.http_status == 503) c_.http_503++;
      else if (h.http_status) c_.http_other++;
      return fail(slot, &Counters::failed_handshake, "handshake: " + h.error);
    }
    std::string rest = c.in->substr(h.consumed);
    c.in.reset();
    c.key.reset();
    c.state = ConnState::kOpen;
    connecting_--;
    c_.opened++;
    c_.open_now++;
    c.open_pos = uint32_t(open_list_.size());
    open_list_.push_back(slot);
    handshake_.record(now_ - c.t0);
    uint32_t gen = c.gen;
    on_open(slot);
    if (!rest.empty() && conns_.alive(slot, gen))
      process(slot, {reinterpret_cast<const uint8_t*>(rest.data()), rest.size()});
    return;
  }
  process(slot, bytes);
}

void ClientEngine::process(uint32_t slot, std::span<const uint8_t> bytes) {
  ClientConn& c = conns_[slot];
  uint32_t gen = c.gen;
  std::unique_ptr<std::string> carry;
  if (c.in) {  // a partial frame from an earlier read: continue it
    carry = std::move(c.in);
    carry->append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    bytes = {reinterpret_cast<const uint8_t*>(carry->data()), carry->size()};
  }
  size_t pos = 0;
  while (pos < bytes.size()) {
    DecodeResult r = decode_frame(bytes.subspan(pos), o_.max_message);
    if (r.status == ParseStatus::kNeedMore) break;
    if (r.status == ParseStatus::kError) {
      c_.protocol_errors++;
      last_error_ = std::string("bad frame from server: ") + r.error;
      return lost(slot);
    }
    auto payload = bytes.subspan(pos + r.header.header_len, size_t(r.header.payload_len));
    pos += r.header.header_len + size_t(r.header.payload_len);
    if (!handle_frame(slot, r.header, payload) || !conns_.alive(slot, gen)) return;
  }
  if (pos < bytes.size()) {
    ClientConn& cc = conns_[slot];
    cc.in = std::make_unique<std::string>(reinterpret_cast<const char*>(bytes.data() + pos), bytes.size() - pos);
  }
}

bool ClientEngine::handle_frame(uint32_t slot, const FrameHeader& h, std::span<const uint8_t> payload) {
  ClientConn& c = conns_[slot];
  const uint32_t gen = c.gen;
  switch (h.op) {
    case WsOp::kPing:
      c_.pings_received++;
      if (c.state == ConnState::kOpen) send_frame(slot, WsOp::kPong, payload);
      return true;
    case WsOp::kPong:
      return true;
    case WsOp::kClose: {
      uint16_t code = 0;
      if (!parse_close_payload(payload, code)) {
        c_.protocol_errors++;
        last_error_ = "1-byte close payload from server";
      } else if (!c.sent_close) {
        c_.count_close(code);
        // Answer with the same code (none if it sent none), then close the socket: the
        // server has already stopped sending, so nothing is lost.
        uint8_t p[2] = {uint8_t(code >> 8), uint8_t(code)};
        send_frame(slot, WsOp::kClose, std::span<const uint8_t>(p, code == 1005 ? 0 : 2));
      }
      if (conns_.alive(slot, gen)) lost(slot);  // unless the reply's send already lost it
      return false;
    }
    case WsOp::kText:
    case WsOp::kBinary:
      if (c.msg) {
        c_.protocol_errors++;
        last_error_ = "new message before the fragmented one ended";
        lost(slot);
        return false;
      }
      if (h.fin) {
        on_message(slot, h.op, payload);
      } else {
        c.msg = std::make_unique<std::string>(reinterpret_cast<const char*>(payload.data()), payload.size());
        c.msg_op = h.op;
      }
      return true;
    case WsOp::kCont:
      if (!c.msg) {
        c_.protocol_errors++;
        last_error_ = "continuation frame without a message";
        lost(slot);
        return false;
      }
      if (c.msg->size() + payload.size() > o_.max_message) {
        c_.protocol_errors++;
        last_error_ = "fragmented message larger than --max-message";
        lost(slot);
        return false;
      }
      c.msg->append(reinterpret_cast<const char*>(payload.data()), payload.size());
      if (h.fin) {
        std::unique_ptr<std::string> m = std::move(c.msg);
        on_message(slot, c.msg_op, {reinterpret_cast<const uint8_t*>(m->data()), m->size()});
      }
      return true;
  }
  return true;
}

void ClientEngine::poll_once(int timeout_ms) {
  epoll_event events[512];
  int n = epoll_wait(ep_, events, 512, timeout_ms);
  now_ = now_ns();
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kWatchTag) {
      on_watched_fd();
      continue;
    }
    uint32_t slot = conns_.slot_of(events[i].data.u64);
    uint32_t gen = conns_.gen_of(events[i].data.u64);
    if (!conns_.alive(slot, gen) || conns_[slot].state == ConnState::kFree) continue;
    on_event(slot, events[i].events);
  }
  expire(now_);
}

void ClientEngine::close_all_and_drain(double seconds) {
  c_.open_at_stop = c_.open_now;
  // Connections still connecting are dropped; open ones get a close frame.
  for (uint32_t s = 0; s < conns_.size(); ++s) {
    ConnState st = conns_[s].state;
    if (st == ConnState::kConnecting || st == ConnState::kHandshake) destroy(s);
    else if (st == ConnState::kOpen) start_close(s);
  }
  uint64_t until = now_ + secs_to_ns(seconds);
  while (c_.open_now > 0 && now_ < until) poll_once(20);
  for (uint32_t s = 0; s < conns_.size(); ++s)
    if (conns_[s].state != ConnState::kFree) {
      c_.closed_by_client++;
      destroy(s);
    }
}

int open_client_socket(const Options& o, uint64_t source_index, std::string& error) {
  int family = g_target.ss_family;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  if (o.tcp_nodelay) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (o.rcvbuf > 0) {
    int n = int(o.rcvbuf);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
  }
  if (!o.source_ips.empty() && family == AF_INET) {
    // Bind the address only; the port is picked at connect() for the whole 4-tuple, so each
    // source address gives a full ephemeral port range per destination.
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = o.source_ips[source_index % o.source_ips.size()];
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      error = std::string("bind source address: ") + strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&g_target), g_target_len) != 0 && errno != EINPROGRESS) {
    error = std::string("connect: ") + strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

bool resolve_target(const Options& o, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = o.source_ips.empty() ? AF_UNSPEC : AF_INET;
  addrinfo* res = nullptr;
  std::string port = std::to_string(o.url.port);
  int rc = getaddrinfo(o.url.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || !res) {
    error = "cannot resolve " + o.url.host + ": " + gai_strerror(rc);
    return false;
  }
  std::memcpy(&g_target, res->ai_addr, res->ai_addrlen);
  g_target_len = socklen_t(res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

}  // namespace ringws::load
