#include "bench/load/attack.h"

#include <openssl/rand.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "bench/load/attack_bytes.h"
#include "bench/load/conn_slots.h"
#include "bench/load/client_engine.h"
#include "bench/load/ws_client.h"

namespace ringws::load {

namespace {

uint64_t secs_to_ns(double s) { return uint64_t(s * 1e9); }

// kConnecting -> (kHandshake: ping-flood, partial-message) -> kSending -> kHeld.
// A connection is resolved (counts for READY) once it reached the attack: kSending for
// ping-flood and slowloris, kHeld for half-handshake and partial-message; or once it failed.
enum class AState : uint8_t { kFree, kConnecting, kHandshake, kSending, kHeld };

struct AttackConn {
  int fd = -1;
  uint32_t gen = 0;
  AState state = AState::kFree;
  bool resolved = false;
  bool open = false;       // counted in open_now
  bool answered = false;   // slowloris, half-handshake: an HTTP answer was counted
  uint32_t events = 0;     // the epoll interest set now
  uint64_t t0 = 0;         // connect() time
  uint64_t pos = 0;        // bytes of the mode's script written
  uint64_t cap = 0;        // bytes of the script this connection writes in all
  std::unique_ptr<std::string> in;  // a response head, or a partial server frame
};

class Attack {
 public:
  Attack(const Options& o, const WorkerSpec& spec, int report_fd) : o_(o), spec_(spec), report_fd_(report_fd) {}
  ~Attack() {
    for (AttackConn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
  }
  Attack(const Attack&) = delete;
  Attack& operator=(const Attack&) = delete;

  bool init(std::string& error);
  int run();

 private:
  bool handshakes() const { return o_.mode == Mode::kPingFlood || o_.mode == Mode::kPartialMessage; }
  void start_connection();
  void on_event(uint32_t slot, uint32_t events);
  void on_connected(uint32_t slot);
  void on_readable(uint32_t slot);
  void on_open(uint32_t slot);
  void handle_server_bytes(uint32_t slot, std::string_view bytes);
  void pump(uint32_t slot);
  void drip(uint32_t slot);
  void dribble();
  void resolve(uint32_t slot);
  void server_closed(uint32_t slot, bool with_frame);
  void fail(uint32_t slot, uint64_t Counters::*why, const std::string& error);
  void release(uint32_t slot);
  void set_events(uint32_t slot, uint32_t events);
  void expire();
  void poll_once(int timeout_ms);
  void report(ReportKind kind);

  const Options& o_;
  WorkerSpec spec_;
  int report_fd_ = -1;
  int ep_ = -1;
  Counters c_;
  Histogram handshake_, closed_after_;
  std::string last_error_;
  uint64_t now_ = 0;
  uint64_t pending_ = 0;   // started, not yet resolved
  uint64_t max_fds_ = 0;
  uint64_t source_next_ = 0;
  ConnSlots<AttackConn> conns_;
  std::deque<Deadline> deadlines_;  // handshake deadlines (connect to attack)
  std::deque<Deadline> drips_;      // slowloris: each connection's next byte
  std::string key_;                 // one Sec-WebSocket-Key per worker: its requests are all alike
  std::string request_;             // upgrade request (ping-flood, partial-message), half one (connect-reset)
  std::string script_;              // what every connection sends in the attack
  std::string read_buf_ = std::string(64 * 1024, '\0');
};

bool Attack::init(std::string& error) {
  if (!open_client_epoll(ep_, max_fds_, error)) return false;
  key_ = make_websocket_key();
  uint32_t mask = 0;  // one masking key for the worker's shared script
  RAND_bytes(reinterpret_cast<unsigned char*>(&mask), sizeof mask);
  const std::string& host = o_.url.host_header;
  switch (o_.mode) {
    case Mode::kPingFlood: {
      request_ = make_upgrade_request(host, o_.url.path, key_);
      size_t frame = ping_frame_size(o_.payload);
      script_ = make_ping_burst(o_.payload, std::max<size_t>(1, (64 * 1024) / frame), mask);
      break;
    }
    case Mode::kSlowloris:
    case Mode::kHalfHandshake:
      script_ = make_half_request(host, o_.url.path, key_);
      break;
    case Mode::kConnectReset:
      request_ = make_partial_request(host, o_.url.path, key_);
      break;
    case Mode::kPartialMessage:
      request_ = make_upgrade_request(host, o_.url.path, key_);
      script_ = make_partial_message(o_.size, o_.tail, mask);
      break;
    default:
      error = "not a hostile mode";
      return false;
  }
  return true;
}

void Attack::report(ReportKind kind) {
  const Histogram* finals[kFinalHistograms] = {nullptr, &handshake_, &closed_after_};
  write_report(report_fd_, kind, spec_.index, c_, last_error_, kind == ReportKind::kFinal ? finals : nullptr);
}

void Attack::set_events(uint32_t slot, uint32_t events) {
  AttackConn& c = conns_[slot];
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = conns_.tag(slot);
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void Attack::start_connection() {
  uint32_t slot = conns_.acquire();
  AttackConn& c = conns_[slot];
  c.t0 = now_;
  c.pos = 0;
  c.resolved = c.open = c.answered = false;
  c.state = AState::kConnecting;
  c_.attempted++;
  pending_++;
  std::string error;
  c.fd = open_client_socket(o_, spec_.index + source_next_++, error);
  if (c.fd < 0) return fail(slot, &Counters::failed_refused, error);
  epoll_event ev{};
  c.events = ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = conns_.tag(slot);
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0)
    return fail(slot, &Counters::failed_refused, std::string("epoll_ctl: ") + strerror(errno));
  deadlines_.push_back({now_ + secs_to_ns(o_.handshake_timeout), slot, c.gen});
}

void Attack::resolve(uint32_t slot) {
  AttackConn& c = conns_[slot];
  if (c.resolved) return;
  c.resolved = true;
  pending_--;
}

void Attack::release(uint32_t slot) {
  AttackConn& c = conns_[slot];
  if (c.state == AState::kFree) return;
  resolve(slot);
  if (c.open) c_.open_now--;
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.state = AState::kFree;
  c.open = false;
  c.in.reset();
  conns_.release(slot);  // events already harvested for this slot are now stale
}

void Attack::fail(uint32_t slot, uint64_t Counters::*why, const std::string& error) {
  c_.failed++;
  c_.*why += 1;
  last_error_ = error;
  release(slot);
}

void Attack::server_closed(uint32_t slot, bool with_frame) {
  AttackConn& c = conns_[slot];
  if (c.state == AState::kConnecting || c.state == AState::kHandshake)
    return fail(slot, &Counters::failed_handshake, "server closed before the attack started");
  c_.closed_by_server++;
  if (!with_frame && handshakes() && o_.mode != Mode::kPingFlood) c_.closed_no_frame++;
  closed_after_.record(now_ - c.t0);
  release(slot);
}

void Attack::on_connected(uint32_t slot) {
  AttackConn& c = conns_[slot];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(slot, &Counters::failed_refused, std::string("connect: ") + strerror(err));
  switch (o_.mode) {
    case Mode::kConnectReset: {
      if (o_.send_partial) (void)::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      linger lg{1, 0};  // close() now sends RST instead of FIN
      setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      c_.opened++;
      c_.resets++;
      c_.closed_by_client++;
      return release(slot);
    }
    case Mode::kPingFlood:
    case Mode::kPartialMessage: {
      c.state = AState::kHandshake;
      set_events(slot, EPOLLIN | EPOLLRDHUP);
      ssize_t n = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n != ssize_t(request_.size()))  // an empty socket takes ~200 bytes, or it is broken
        return fail(slot, &Counters::failed_handshake, std::string("sending the upgrade request: ") + strerror(errno));
      c_.bytes_sent += uint64_t(n);
      return;
    }
    case Mode::kSlowloris:
    case Mode::kHalfHandshake:
      return on_open(slot);
    default:
      return;
  }
}

// The connection reached its attack: a checked 101 (ping-flood, partial-message) or a TCP
// connection (slowloris, half-handshake).
void Attack::on_open(uint32_t slot) {
  AttackConn& c = conns_[slot];
  c_.opened++;
  c_.open_now++;
  c.open = true;
  c.state = AState::kSending;
  switch (o_.mode) {
    case Mode::kPingFlood: {
      // Never read again: only the server's close (RDHUP, HUP, ERR) and room to write.
      uint64_t frame = ping_frame_size(o_.payload);
      uint64_t share = spec_.messages ? (spec_.messages + spec_.connections - 1) / spec_.connections : 0;
      c.cap = share ? share * frame : UINT64_MAX;
      resolve(slot);
      set_events(slot, EPOLLOUT | EPOLLRDHUP);
      return pump(slot);
    }
    case Mode::kSlowloris:
      resolve(slot);
      set_events(slot, EPOLLIN | EPOLLRDHUP);
      c.cap = UINT64_MAX;
      return drip(slot);
    case Mode::kHalfHandshake:
    case Mode::kPartialMessage:
      c.cap = script_.size();
      set_events(slot, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      return pump(slot);
    default:
      return;
  }
}

// Writes what the mode sends now, until the socket is full, the connection's share is out,
// or 1 MiB went out in this call (so one connection cannot starve the others).
void Attack::pump(uint32_t slot) {
  AttackConn& c = conns_[slot];
  const bool flood = o_.mode == Mode::kPingFlood;
  const uint64_t frame = ping_frame_size(o_.payload);
  uint64_t budget = 1u << 20;
  while (c.pos < c.cap && budget) {
    uint64_t off = flood ? c.pos % script_.size() : c.pos;
    uint64_t len = std::min({uint64_t(script_.size()) - off, c.cap - c.pos, budget});
    ssize_t n = ::send(c.fd, script_.data() + off, size_t(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;  // EPOLLOUT stays armed
      if (!flood) {
        // The server may have closed with a close frame still unread: read it first, so
        // its code is counted rather than "no close frame".
        const uint32_t gen = c.gen;
        on_readable(slot);
        if (!conns_.alive(slot, gen)) return;
      }
      return server_closed(slot, false);
    }
    uint64_t before = c.pos;
    c.pos += uint64_t(n);
    budget -= std::min(budget, uint64_t(n));
    c_.bytes_sent += uint64_t(n);
    if (flood) c_.pings_sent += c.pos / frame - before / frame;
  }
  if (c.pos < c.cap) return;
  c.state = AState::kHeld;
  if (flood) {
    set_events(slot, EPOLLRDHUP);  // its share is out: wait for the end, still never reading
  } else {
    c_.partial_sent++;
    resolve(slot);
    set_events(slot, EPOLLIN | EPOLLRDHUP);
  }
}

// slowloris: one more byte of the endless head, and the time of the next.
void Attack::drip(uint32_t slot) {
  AttackConn& c = conns_[slot];
  char b = slowloris_byte(script_, c.pos);
  ssize_t n = ::send(c.fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == 1) {
    c.pos++;
    c_.slow_bytes++;
    c_.bytes_sent++;
  } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    return server_closed(slot, false);
  }
  drips_.push_back({now_ + secs_to_ns(o_.interval), slot, c.gen});
}

void Attack::dribble() {
  // Every connection waits the same interval, so the queue stays in time order.
  while (!drips_.empty() && drips_.front().at <= now_) {
    Deadline d = drips_.front();
    drips_.pop_front();
    if (conns_.alive(d.slot, d.gen) && conns_[d.slot].state == AState::kSending) drip(d.slot);
  }
}

void Attack::on_event(uint32_t slot, uint32_t events) {
  AttackConn& c = conns_[slot];
  if (c.state == AState::kFree) return;
  if (c.state == AState::kConnecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(slot);
    return;
  }
  if (o_.mode == Mode::kPingFlood && c.state != AState::kHandshake) {
    // After the 101 a flooder never reads: the server's close shows as RDHUP, HUP or ERR.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) return server_closed(slot, false);
    if (events & EPOLLOUT) pump(slot);
    return;
  }
  // Read first: a close frame from the server is counted before a write can fail on it.
  const uint32_t gen = c.gen;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(slot);
  if (conns_.alive(slot, gen) && (events & EPOLLOUT) && conns_[slot].state == AState::kSending && o_.mode != Mode::kSlowloris)
    pump(slot);
}

void Attack::on_readable(uint32_t slot) {
  AttackConn& c = conns_[slot];
  ssize_t n = ::recv(c.fd, read_buf_.data(), read_buf_.size(), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    if (c.state == AState::kHandshake)
      return fail(slot, &Counters::failed_handshake,
                  n == 0 ? "server closed during the handshake" : std::string("recv: ") + strerror(errno));
    return server_closed(slot, false);
  }
  c_.bytes_received += uint64_t(n);
  handle_server_bytes(slot, std::string_view(read_buf_.data(), size_t(n)));
}

void Attack::handle_server_bytes(uint32_t slot, std::string_view bytes) {
  AttackConn& c = conns_[slot];
  if (c.state == AState::kHandshake) {
    if (!c.in) c.in = std::make_unique<std::string>();
    c.in->append(bytes);
    HandshakeResult h = parse_upgrade_response(*c.in, key_);
    if (h.status == ParseStatus::kNeedMore) return;
    if (h.status == ParseStatus::kError) {
      if (h.http_status == 503) c_.http_503++;
      else if (h.http_status) c_.http_other++;
      return fail(slot, &Counters::failed_handshake, "handshake: " + h.error);
    }
    std::string rest = c.in->substr(h.consumed);
    c.in.reset();
    handshake_.record(now_ - c.t0);
    const uint32_t gen = c.gen;
    on_open(slot);
    if (!rest.empty() && conns_.alive(slot, gen) && o_.mode != Mode::kPingFlood) handle_server_bytes(slot, rest);
    return;
  }
  if (!handshakes()) {
    // slowloris, half-handshake: an HTTP answer to a request never finished (408, 431, 503).
    if (c.answered) return;
    if (!c.in) c.in = std::make_unique<std::string>();
    c.in->append(bytes.substr(0, std::min<size_t>(bytes.size(), 16 - std::min<size_t>(16, c.in->size()))));
    if (c.in->size() < 12) return;
    c.answered = true;
    std::string_view head(*c.in);
    if (head.starts_with("HTTP/1.") && head.substr(9, 3) == "503") c_.http_503++;
    else c_.http_other++;
    c.in.reset();
    return;
  }
  // partial-message: frames from the server while ours is unfinished. A close counts by its
  // code; pings stay unanswered (a pong cannot go in the middle of our own frame).
  std::string buf;
  if (c.in) {
    buf = std::move(*c.in);
    c.in.reset();
  }
  buf.append(bytes);
  std::span<const uint8_t> all(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  size_t pos = 0;
  while (pos < all.size()) {
    DecodeResult r = decode_frame(all.subspan(pos), o_.max_message);
    if (r.status == ParseStatus::kNeedMore) break;
    if (r.status == ParseStatus::kError) {
      c_.protocol_errors++;
      last_error_ = std::string("bad frame from server: ") + r.error;
      c_.closed_by_client++;
      return release(slot);
    }
    auto payload = all.subspan(pos + r.header.header_len, size_t(r.header.payload_len));
    pos += r.header.header_len + size_t(r.header.payload_len);
    if (r.header.op == WsOp::kClose) {
      uint16_t code = 0;
      if (parse_close_payload(payload, code)) c_.count_close(code);
      else c_.protocol_errors++;
      return server_closed(slot, true);
    }
  }
  if (pos < all.size()) c.in = std::make_unique<std::string>(buf.substr(pos));
}

void Attack::expire() {
  while (!deadlines_.empty() && deadlines_.front().at <= now_) {
    Deadline d = deadlines_.front();
    deadlines_.pop_front();
    if (!conns_.alive(d.slot, d.gen)) continue;
    AState s = conns_[d.slot].state;
    if (s == AState::kConnecting)
      fail(d.slot, &Counters::failed_timeout, "connect not completed within --handshake-timeout");
    else if (s == AState::kHandshake)
      fail(d.slot, &Counters::failed_timeout, "no 101 within --handshake-timeout");
  }
}

void Attack::poll_once(int timeout_ms) {
  epoll_event events[512];
  int n = epoll_wait(ep_, events, 512, timeout_ms);
  now_ = now_ns();
  for (int i = 0; i < n; ++i) {
    uint32_t slot = conns_.slot_of(events[i].data.u64);
    uint32_t gen = conns_.gen_of(events[i].data.u64);
    if (conns_.alive(slot, gen)) on_event(slot, events[i].events);
  }
  expire();
  dribble();
}

int Attack::run() {
  const uint64_t t_start = now_ = now_ns();
  const bool reset_mode = o_.mode == Mode::kConnectReset;
  if (spec_.connections > max_fds_ && !reset_mode) {
    last_error_ = "this worker's share exceeds its open-files limit: use more --workers";
    c_.failed = spec_.connections;
    report(ReportKind::kReady);
    report(ReportKind::kFinal);
    return 1;
  }
  // How long the attack lasts once every connection is resolved.
  const bool holds = o_.mode == Mode::kHalfHandshake || o_.mode == Mode::kPartialMessage;
  const uint64_t phase_ns = secs_to_ns(holds ? o_.hold : o_.duration);
  // Bound every phase: a worker stops by itself even if the parent never signals it.
  const uint64_t hard_end = t_start + secs_to_ns(o_.connect_timeout + o_.hold + o_.duration + 60);
  // connect-reset holds nothing: bound the connections in flight instead.
  const uint64_t in_flight_cap = reset_mode ? std::min<uint64_t>(1000, max_fds_) : max_fds_;
  uint64_t last_report = t_start, t_ready = 0;
  bool ready = false;
  while (!g_stop && now_ < hard_end) {
    const uint64_t elapsed = now_ - t_start;
    const bool starting =
        c_.attempted < spec_.connections && !(reset_mode && elapsed >= secs_to_ns(o_.duration));
    if (starting) {
      uint64_t due = std::min(uint64_t(double(elapsed) / 1e9 * spec_.rate) + 1, spec_.connections);
      while (c_.attempted < due && pending_ < in_flight_cap && c_.open_now + pending_ < max_fds_ && !g_stop)
        start_connection();
    }
    if (reset_mode) {
      if (!starting && pending_ == 0) break;  // every connection reset or failed, or time is up
    } else {
      if (!ready && ((c_.attempted >= spec_.connections && pending_ == 0) || elapsed > secs_to_ns(o_.connect_timeout))) {
        ready = true;
        t_ready = now_;
        c_.connect_phase_ns = now_ - t_start;
        report(ReportKind::kReady);
      }
      // The attack is over at the end of its phase, or once the server closed everything.
      if (ready && (now_ - t_ready >= phase_ns || (c_.open_now == 0 && pending_ == 0))) break;
    }
    if (now_ - last_report >= 250'000'000) {
      last_report = now_;
      c_.measure_ns = ready ? now_ - t_ready : 0;
      report(ReportKind::kProgress);
    }
    poll_once(starting || o_.mode == Mode::kSlowloris ? 1 : 10);
  }
  if (reset_mode) c_.connect_phase_ns = now_ - t_start;
  c_.measure_ns = reset_mode ? now_ - t_start : ready ? now_ - t_ready : 0;
  if (!ready && !reset_mode) {
    c_.connect_phase_ns = now_ - t_start;
    report(ReportKind::kReady);
  }
  c_.open_at_stop = c_.open_now;
  // The end: close what is left (a FIN, or a RST where the server's bytes wait unread).
  for (uint32_t s = 0; s < conns_.size(); ++s)
    if (conns_[s].state != AState::kFree) {
      if (conns_[s].open) c_.closed_by_client++;
      release(s);
    }
  report(ReportKind::kFinal);
  return 0;
}

}  // namespace

int run_attack(const Options& o, const WorkerSpec& spec, int report_fd) {
  Attack a(o, spec, report_fd);
  std::string error;
  if (!a.init(error)) {
    std::fprintf(stderr, "ringws-load worker %u: %s\n", spec.index, error.c_str());
    return 1;
  }
  return a.run();
}

}  // namespace ringws::load
