#include "bench/load/worker.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/load/ws_client.h"

namespace ringws::load {

volatile sig_atomic_t g_stop = 0;

namespace {

sockaddr_storage g_target{};
socklen_t g_target_len = 0;

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

uint64_t secs_to_ns(double s) { return uint64_t(s * 1e9); }

enum class State : uint8_t { kFree, kConnecting, kHandshake, kOpen, kClosing };

// One client connection. Buffers are heap strings that exist only while needed (a partial
// frame, unsent bytes, a fragmented message), so an idle connection costs this struct only.
struct Conn {
  int fd = -1;
  uint32_t gen = 0;
  State state = State::kFree;
  bool out_armed = false;
  bool sent_close = false;
  WsOp msg_op = WsOp::kCont;
  uint64_t t0 = 0;       // connect() time
  uint64_t seq = 0;      // echo: next sequence number
  uint32_t open_pos = 0; // index in open_list_ while open (O(1) removal)
  std::unique_ptr<std::string> key, in, out, msg;
};

constexpr uint64_t kControlTag = ~uint64_t{0};  // epoll data of the parent's command pipe

struct Deadline {
  uint64_t at;
  uint32_t slot, gen;
};

// xorshift64*: masking keys for a load generator need not be cryptographic, only cheap.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
};

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Finds "key": <digits> in a flat JSON text; false if absent. Enough for the messages this
// tool itself builds (numbers it wrote, passed back byte for byte by the server).
bool json_uint(std::string_view text, std::string_view key, uint64_t& out) {
  size_t at = 0;
  for (;;) {  // "key" followed by optional spaces and a colon
    at = text.find(key, at);
    if (at == std::string_view::npos) return false;
    size_t end = at + key.size();
    if (at > 0 && text[at - 1] == '"' && end < text.size() && text[end] == '"') {
      at = end + 1;
      break;
    }
    at = end;
  }
  while (at < text.size() && (text[at] == ' ' || text[at] == ':')) ++at;
  uint64_t v = 0;
  size_t digits = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9' && digits < 20) {
    v = v * 10 + uint64_t(text[at++] - '0');
    ++digits;
  }
  if (!digits) return false;
  out = v;
  return true;
}

// The value of the top-level "type" string, or empty.
std::string_view json_type(std::string_view text) {
  size_t at = text.find("\"type\"");
  if (at == std::string_view::npos) return {};
  at += 6;
  while (at < text.size() && (text[at] == ' ' || text[at] == ':')) ++at;
  if (at >= text.size() || text[at] != '"') return {};
  size_t end = text.find('"', at + 1);
  if (end == std::string_view::npos) return {};
  return text.substr(at + 1, end - at - 1);
}

class Worker {
 public:
  Worker(const Options& o, const WorkerSpec& spec, int report_fd) : o_(o), spec_(spec), report_fd_(report_fd) {
    uint64_t seed = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
    rng_.s = seed | 1;
    read_buf_.resize(64 * 1024);
  }
  ~Worker() {
    for (Conn& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    if (ep_ >= 0) ::close(ep_);
  }

  bool init(std::string& error) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      error = std::string("epoll_create1: ") + strerror(errno);
      return false;
    }
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    max_fds_ = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 1;
    return true;
  }

  int run_forked();
  int run_broadcast();

 private:
  // --- connections -------------------------------------------------------------------
  int start_connection();
  void on_event(uint32_t slot, uint32_t events);
  void on_connected(uint32_t slot);
  void on_readable(uint32_t slot);
  void process(uint32_t slot, std::span<const uint8_t> bytes);
  bool handle_frame(uint32_t slot, const FrameHeader& h, std::span<const uint8_t> payload);
  void send_frame(uint32_t slot, WsOp op, std::span<const uint8_t> payload);
  void send_frame(uint32_t slot, WsOp op, std::string_view p) {
    send_frame(slot, op, {reinterpret_cast<const uint8_t*>(p.data()), p.size()});
  }
  void write_bytes(uint32_t slot, const std::string& bytes);
  void flush(uint32_t slot);
  void set_out_armed(uint32_t slot, bool on);
  void fail(uint32_t slot, uint64_t Counters::*why, const std::string& error);
  void lost(uint32_t slot);  // the server went away while open
  void destroy(uint32_t slot);
  void start_close(uint32_t slot);
  void expire(uint64_t now);
  void poll_once(int timeout_ms);
  bool alive(uint32_t slot, uint32_t gen) const { return slot < conns_.size() && conns_[slot].gen == gen; }
  uint64_t in_flight() const { return connecting_; }
  void close_all_and_drain(double seconds);

  // --- modes ---------------------------------------------------------------------------
  void on_open(uint32_t slot);
  void on_message(uint32_t slot, WsOp op, std::span<const uint8_t> payload);
  void echo_send(uint32_t slot);
  void broadcast_send(uint64_t id);
  bool read_commands();  // false when the parent is gone
  void event(EventKind kind, uint64_t id, uint64_t t);

  // --- reporting -----------------------------------------------------------------------
  void report(ReportKind kind, EventKind ev = EventKind::kNone, uint64_t id = 0, uint64_t t = 0);

  const Options& o_;
  WorkerSpec spec_;
  int report_fd_ = -1;
  int ep_ = -1;
  uint64_t max_fds_ = 0;
  Rng rng_{1};
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> open_list_;  // open slots, for round-robin sends (echo rate mode)
  std::deque<Deadline> deadlines_;
  std::string read_buf_, scratch_, frame_;
  Counters c_;
  Histogram rtt_, handshake_;
  std::string last_error_;
  uint64_t now_ = 0;
  uint64_t connecting_ = 0;  // in kConnecting or kHandshake
  uint64_t source_next_ = 0;
  bool measuring_ = false;
  bool sending_ = false;     // echo: send new messages

  // broadcast: receipts per broadcast id until this worker's clients all have it.
  std::unordered_map<uint64_t, uint64_t> receipts_;
  uint64_t target_ = 0;
  bool awaiting_ready_ = false;
  bool parent_gone_ = false;
  std::string control_buf_;
};

int Worker::start_connection() {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = uint32_t(conns_.size());
    conns_.emplace_back();
  }
  Conn& c = conns_[slot];
  c.gen++;
  c.t0 = now_;
  c.seq = 0;
  c.sent_close = false;
  c.out_armed = false;
  c.state = State::kConnecting;
  c_.attempted++;
  connecting_++;
  int family = g_target.ss_family;
  c.fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) {
    fail(slot, &Counters::failed_refused, std::string("socket: ") + strerror(errno));
    return -1;
  }
  if (o_.tcp_nodelay) {
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (!o_.source_ips.empty() && family == AF_INET) {
    // Bind the address only; the port is picked at connect() for the whole 4-tuple, so each
    // source address gives a full ephemeral port range per destination.
    int one = 1;
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr = o_.source_ips[(spec_.index + source_next_++) % o_.source_ips.size()];
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      fail(slot, &Counters::failed_refused, std::string("bind source address: ") + strerror(errno));
      return -1;
    }
  }
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&g_target), g_target_len) != 0 && errno != EINPROGRESS) {
    fail(slot, &Counters::failed_refused, std::string("connect: ") + strerror(errno));
    return -1;
  }
  epoll_event ev{};
  ev.events = EPOLLOUT | EPOLLIN;
  ev.data.u64 = (uint64_t(c.gen) << 32) | slot;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    fail(slot, &Counters::failed_refused, std::string("epoll_ctl: ") + strerror(errno));
    return -1;
  }
  c.out_armed = true;
  deadlines_.push_back({now_ + secs_to_ns(o_.handshake_timeout), slot, c.gen});
  return int(slot);
}

void Worker::fail(uint32_t slot, uint64_t Counters::*why, const std::string& error) {
  c_.failed++;
  c_.*why += 1;
  last_error_ = error;
  destroy(slot);
}

void Worker::lost(uint32_t slot) {
  Conn& c = conns_[slot];
  if (c.state == State::kClosing) c_.closed_by_client++;
  else c_.closed_by_server++;
  destroy(slot);
}

void Worker::destroy(uint32_t slot) {
  Conn& c = conns_[slot];
  if (c.state == State::kConnecting || c.state == State::kHandshake) connecting_--;
  if (c.state == State::kOpen || c.state == State::kClosing) {
    c_.open_now--;
    uint32_t pos = c.open_pos, last = open_list_.back();
    open_list_[pos] = last;
    conns_[last].open_pos = pos;
    open_list_.pop_back();
  }
  if (c.fd >= 0) ::close(c.fd);  // also leaves the epoll set
  c.fd = -1;
  c.state = State::kFree;
  c.gen++;  // events already harvested for this slot are now stale
  c.key.reset();
  c.in.reset();
  c.out.reset();
  c.msg.reset();
  free_.push_back(slot);
}

void Worker::expire(uint64_t now) {
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    Deadline d = deadlines_.front();
    deadlines_.pop_front();
    if (!alive(d.slot, d.gen)) continue;
    State s = conns_[d.slot].state;
    if (s == State::kConnecting || s == State::kHandshake)
      fail(d.slot, &Counters::failed_timeout, "no 101 within --handshake-timeout");
    else if (s == State::kClosing)
      lost(d.slot);  // the server never answered our close frame: give up on it
  }
}

void Worker::set_out_armed(uint32_t slot, bool on) {
  Conn& c = conns_[slot];
  if (c.out_armed == on) return;
  epoll_event ev{};
  ev.events = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.u64 = (uint64_t(c.gen) << 32) | slot;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
  c.out_armed = on;
}

void Worker::write_bytes(uint32_t slot, const std::string& bytes) {
  Conn& c = conns_[slot];
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

void Worker::flush(uint32_t slot) {
  Conn& c = conns_[slot];
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

void Worker::send_frame(uint32_t slot, WsOp op, std::span<const uint8_t> payload) {
  frame_.clear();
  encode_frame(frame_, op, payload, uint32_t(rng_.next()));
  write_bytes(slot, frame_);
}

void Worker::start_close(uint32_t slot) {
  Conn& c = conns_[slot];
  if (c.state != State::kOpen) return;
  static constexpr uint8_t kNormal[2] = {0x03, 0xe8};  // 1000
  c.state = State::kClosing;
  c.sent_close = true;
  send_frame(slot, WsOp::kClose, std::span<const uint8_t>(kNormal, 2));
  if (conns_[slot].state == State::kClosing)
    deadlines_.push_back({now_ + secs_to_ns(std::min(o_.handshake_timeout, 5.0)), slot, c.gen});
}

void Worker::on_event(uint32_t slot, uint32_t events) {
  Conn& c = conns_[slot];
  switch (c.state) {
    case State::kConnecting:
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(slot);
      break;
    case State::kHandshake:
    case State::kOpen:
    case State::kClosing:
      if (events & EPOLLOUT) flush(slot);
      if (alive(slot, c.gen) && c.state != State::kFree && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(slot);
      break;
    case State::kFree:
      break;
  }
}

void Worker::on_connected(uint32_t slot) {
  Conn& c = conns_[slot];
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(slot, &Counters::failed_refused, std::string("connect: ") + strerror(err));
  c.state = State::kHandshake;
  c.key = std::make_unique<std::string>(make_websocket_key());
  scratch_ = make_upgrade_request(o_.url.host_header, o_.url.path, *c.key);
  set_out_armed(slot, false);
  write_bytes(slot, scratch_);
}

void Worker::on_readable(uint32_t slot) {
  Conn& c = conns_[slot];
  ssize_t n = ::recv(c.fd, read_buf_.data(), read_buf_.size(), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    if (c.state == State::kHandshake)
      return fail(slot, &Counters::failed_handshake, n == 0 ? "server closed during the handshake"
                                                            : std::string("recv: ") + strerror(errno));
    return lost(slot);
  }
  c_.bytes_received += uint64_t(n);
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(read_buf_.data()), size_t(n));
  if (c.state == State::kHandshake) {
    if (!c.in) c.in = std::make_unique<std::string>();
    c.in->append(read_buf_.data(), size_t(n));
    HandshakeResult h = parse_upgrade_response(*c.in, *c.key);
    if (h.status == ParseStatus::kNeedMore) return;
    if (h.status == ParseStatus::kError) return fail(slot, &Counters::failed_handshake, "handshake: " + h.error);
    std::string rest = c.in->substr(h.consumed);
    c.in.reset();
    c.key.reset();
    c.state = State::kOpen;
    connecting_--;
    c_.opened++;
    c_.open_now++;
    c.open_pos = uint32_t(open_list_.size());
    open_list_.push_back(slot);
    handshake_.record(now_ - c.t0);
    uint32_t gen = c.gen;
    on_open(slot);
    if (!rest.empty() && alive(slot, gen))
      process(slot, {reinterpret_cast<const uint8_t*>(rest.data()), rest.size()});
    return;
  }
  process(slot, bytes);
}

void Worker::process(uint32_t slot, std::span<const uint8_t> bytes) {
  Conn& c = conns_[slot];
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
    if (!handle_frame(slot, r.header, payload) || !alive(slot, gen)) return;
  }
  if (pos < bytes.size()) {
    Conn& cc = conns_[slot];
    cc.in = std::make_unique<std::string>(reinterpret_cast<const char*>(bytes.data() + pos), bytes.size() - pos);
  }
}

bool Worker::handle_frame(uint32_t slot, const FrameHeader& h, std::span<const uint8_t> payload) {
  Conn& c = conns_[slot];
  switch (h.op) {
    case WsOp::kPing:
      c_.pings_received++;
      if (c.state == State::kOpen) send_frame(slot, WsOp::kPong, payload);
      return true;
    case WsOp::kPong:
      return true;
    case WsOp::kClose: {
      uint16_t code = 0;
      if (!parse_close_payload(payload, code)) {
        c_.protocol_errors++;
        last_error_ = "1-byte close payload from server";
      } else if (!c.sent_close) {
        // Answer with the same code (none if it sent none), then close the socket: the
        // server has already stopped sending, so nothing is lost.
        uint8_t p[2] = {uint8_t(code >> 8), uint8_t(code)};
        send_frame(slot, WsOp::kClose, std::span<const uint8_t>(p, code == 1005 ? 0 : 2));
      }
      if (alive(slot, c.gen)) lost(slot);
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

void Worker::poll_once(int timeout_ms) {
  epoll_event events[512];
  int n = epoll_wait(ep_, events, 512, timeout_ms);
  now_ = now_ns();
  for (int i = 0; i < n; ++i) {
    if (events[i].data.u64 == kControlTag) {
      if (!read_commands()) parent_gone_ = true;
      continue;
    }
    uint32_t slot = uint32_t(events[i].data.u64);
    uint32_t gen = uint32_t(events[i].data.u64 >> 32);
    if (!alive(slot, gen) || conns_[slot].state == State::kFree) continue;
    on_event(slot, events[i].events);
  }
  expire(now_);
}

void Worker::close_all_and_drain(double seconds) {
  sending_ = false;
  c_.open_at_stop = c_.open_now;
  // Connections still connecting are dropped; open ones get a close frame.
  for (uint32_t s = 0; s < conns_.size(); ++s) {
    State st = conns_[s].state;
    if (st == State::kConnecting || st == State::kHandshake) destroy(s);
    else if (st == State::kOpen) start_close(s);
  }
  uint64_t until = now_ + secs_to_ns(seconds);
  while (c_.open_now > 0 && now_ < until) poll_once(20);
  for (uint32_t s = 0; s < conns_.size(); ++s)
    if (conns_[s].state != State::kFree) {
      c_.closed_by_client++;
      destroy(s);
    }
}

// --- modes -----------------------------------------------------------------------------

void Worker::on_open(uint32_t slot) {
  if (o_.mode == Mode::kStorm) start_close(slot);
  else if (o_.mode == Mode::kEcho && sending_ && o_.rate == 0) echo_send(slot);
}

void Worker::echo_send(uint32_t slot) {
  Conn& c = conns_[slot];
  if (c.state != State::kOpen) return;
  uint64_t seq = c.seq++;
  if (o_.protocol == Protocol::kRaw) {
    scratch_.assign(o_.size, 'x');
    put_u64(reinterpret_cast<uint8_t*>(scratch_.data()), seq);
    put_u64(reinterpret_cast<uint8_t*>(scratch_.data()) + 8, now_ns());
    send_frame(slot, WsOp::kBinary, scratch_);
  } else {
    scratch_ = "{\"type\":\"echo\",\"payload\":{\"seq\":" + std::to_string(seq) + ",\"sent\":" + std::to_string(now_ns()) +
               ",\"pad\":\"";
    size_t want = o_.size > scratch_.size() + 3 ? o_.size - scratch_.size() - 3 : 0;
    scratch_.append(want, 'x').append("\"}}");
    send_frame(slot, WsOp::kText, scratch_);
  }
  c_.msgs_sent++;
}

void Worker::on_message(uint32_t slot, WsOp op, std::span<const uint8_t> p) {
  c_.msgs_received++;
  std::string_view text(reinterpret_cast<const char*>(p.data()), p.size());
  if (o_.mode == Mode::kEcho) {
    uint64_t sent = 0;
    bool ok;
    if (o_.protocol == Protocol::kRaw) {
      ok = op == WsOp::kBinary && p.size() == o_.size && (p.size() == 16 || p.back() == 'x');
      if (ok) sent = get_u64(p.data() + 8);
    } else {
      ok = json_type(text) == "echo" && json_uint(text, "sent", sent);
    }
    if (!ok || sent > now_ || sent == 0) {
      c_.bad_replies++;
      last_error_ = "echo reply differs from what was sent";
      return;
    }
    if (measuring_) {
      rtt_.record(now_ - sent);
      c_.measured++;
    }
    if (sending_ && o_.rate == 0) echo_send(slot);
    return;
  }
  if (o_.mode == Mode::kBroadcast) {
    std::string_view type = json_type(text);
    uint64_t id = 0;
    if (!json_uint(text, "id", id)) return;
    if (type == "broadcast") {
      // Done here once every client of this worker has it; the parent waits for all workers.
      uint64_t& n = receipts_[id];
      if (++n >= c_.open_now) {
        receipts_.erase(id);
        event(EventKind::kLocalDone, id, now_);
      } else if (receipts_.size() > 4096) {
        receipts_.erase(receipts_.begin());  // bounded: ids that can no longer complete
      }
    } else if (type == "broadcastResult") {
      event(EventKind::kResult, id, now_);
    }
  }
}

void Worker::event(EventKind kind, uint64_t id, uint64_t t) { report(ReportKind::kEvent, kind, id, t); }

void Worker::report(ReportKind kind, EventKind ev, uint64_t id, uint64_t t) {
  if (report_fd_ < 0) return;
  ReportHeader h;
  h.kind = kind;
  h.event = ev;
  h.event_id = id;
  h.event_ns = t;
  h.worker = spec_.index;
  std::string err = last_error_.substr(0, 512);
  h.error_len = uint32_t(err.size());
  h.counters = c_;
  std::string buf(reinterpret_cast<const char*>(&h), sizeof h);
  buf += err;
  if (kind == ReportKind::kFinal) {
    for (const Histogram* hist : {&rtt_, &handshake_}) {
      buf.append(reinterpret_cast<const char*>(hist->counts().data()), sizeof(uint64_t) * Histogram::kBuckets);
      uint64_t tail[3] = {hist->min(), hist->max(), hist->sum()};
      buf.append(reinterpret_cast<const char*>(tail), sizeof tail);
    }
  }
  write_all(report_fd_, buf.data(), buf.size());
}

int Worker::run_forked() {
  if (o_.mode == Mode::kBroadcast) return run_broadcast();
  const uint64_t t_start = now_ = now_ns();
  uint64_t last_report = t_start;
  bool ready_sent = false;
  if (spec_.connections > max_fds_ && o_.mode != Mode::kStorm) {
    last_error_ = "this worker's share exceeds its open-files limit: use more --workers";
    c_.failed = spec_.connections;
    report(ReportKind::kReady);
    report(ReportKind::kFinal);
    return 1;
  }
  uint64_t t_measure = 0, t_end_sending = 0;
  const bool echo = o_.mode == Mode::kEcho, storm = o_.mode == Mode::kStorm;
  uint64_t echo_sent_by_rate = 0;
  size_t rr = 0;
  // Bound every phase: a worker stops by itself even if the parent never signals it.
  const uint64_t hard_end = t_start + secs_to_ns(o_.connect_timeout + o_.hold + o_.duration + 60);
  if (storm) {
    measuring_ = true;
    t_measure = t_start;
  }
  while (!g_stop && now_ < hard_end) {
    // Start connections at this worker's share of the rate (echo: as fast as allowed).
    double elapsed = double(now_ - t_start) / 1e9;
    if (storm) {
      if (now_ - t_start < secs_to_ns(o_.duration)) {
        uint64_t due = uint64_t(elapsed * spec_.rate) + 1;
        while (c_.attempted < due && !g_stop) {
          if (connecting_ + c_.open_now >= max_fds_) {
            // Skip, and count it: a server slower than --rate is what storm measures.
            c_.attempted++;
            c_.failed++;
            c_.failed_refused++;
            last_error_ = "open-files limit reached with connections in flight";
            continue;
          }
          start_connection();
        }
      } else if (connecting_ == 0 && c_.open_now == 0) {
        break;
      } else if (!t_end_sending) {
        t_end_sending = now_;
        c_.measure_ns = now_ - t_measure;
      } else if (now_ - t_end_sending > secs_to_ns(o_.handshake_timeout + 5)) {
        break;
      }
    } else if (c_.attempted < spec_.connections) {
      uint64_t due = echo ? spec_.connections : uint64_t(elapsed * spec_.rate) + 1;
      uint64_t cap = echo ? 512 : UINT64_MAX;  // echo: bounded handshakes in flight
      while (c_.attempted < std::min(due, spec_.connections) && connecting_ < cap) start_connection();
    }
    if (!storm && !ready_sent && c_.opened + c_.failed >= spec_.connections) {
      ready_sent = true;
      c_.connect_phase_ns = now_ - t_start;
      report(ReportKind::kReady);
      if (echo) {
        measuring_ = sending_ = true;
        t_measure = now_;
        if (o_.rate == 0)
          for (uint32_t s : std::vector<uint32_t>(open_list_)) echo_send(s);
      }
    }
    if (echo && sending_) {
      if (o_.rate > 0 && !open_list_.empty()) {
        uint64_t due = uint64_t(double(now_ - t_measure) / 1e9 * spec_.rate);
        uint64_t budget = 20000;  // per loop turn, so a slow server cannot make this spin
        while (echo_sent_by_rate < due && budget-- && !open_list_.empty()) {
          echo_send(open_list_[rr++ % open_list_.size()]);
          echo_sent_by_rate++;
        }
      }
      bool done = (now_ - t_measure >= secs_to_ns(o_.duration)) || (spec_.messages && c_.measured >= spec_.messages) ||
                  open_list_.empty();
      if (done) {
        c_.measure_ns = now_ - t_measure;
        measuring_ = sending_ = false;
        break;
      }
    }
    if (now_ - last_report >= 250'000'000) {
      last_report = now_;
      if (echo && measuring_) c_.measure_ns = now_ - t_measure;
      report(ReportKind::kProgress);
    }
    poll_once(echo && o_.rate > 0 ? 1 : (storm ? 1 : 10));
  }
  if (storm && !t_end_sending) c_.measure_ns = now_ - t_measure;
  if (echo && measuring_) c_.measure_ns = now_ - t_measure;
  measuring_ = false;
  if (!ready_sent && !storm) {
    c_.connect_phase_ns = now_ - t_start;
    report(ReportKind::kReady);
  }
  close_all_and_drain(2.0);
  report(ReportKind::kFinal);
  return 0;
}

void Worker::broadcast_send(uint64_t id) {
  if (open_list_.empty()) return;
  uint32_t slot = open_list_[rng_.next() % open_list_.size()];
  uint64_t sent = now_ns();
  scratch_ = "{\"type\":\"broadcast\",\"payload\":{\"id\":" + std::to_string(id) + ",\"sent\":" + std::to_string(sent) +
             ",\"padding\":\"";
  scratch_.append(o_.padding, 'x').append("\"}}");
  c_.msgs_sent++;
  event(EventKind::kSent, id, sent);
  send_frame(slot, WsOp::kText, scratch_);
}

bool Worker::read_commands() {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(spec_.control_fd, buf, sizeof buf);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    control_buf_.append(buf, size_t(n));
    while (control_buf_.size() >= sizeof(Command)) {
      Command cmd;
      std::memcpy(&cmd, control_buf_.data(), sizeof cmd);
      control_buf_.erase(0, sizeof cmd);
      if (cmd.kind == CommandKind::kConnect) {
        target_ = std::min<uint64_t>(cmd.value, max_fds_);
        awaiting_ready_ = true;
      } else if (cmd.kind == CommandKind::kSend) {
        broadcast_send(cmd.value);
      } else if (cmd.kind == CommandKind::kStop) {
        return false;
      }
    }
  }
}

int Worker::run_broadcast() {
  const uint64_t t_start = now_ = now_ns();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kControlTag;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, spec_.control_fd, &ev) != 0) return 1;
  uint64_t last_report = t_start, t_phase = t_start, base = 0;
  uint64_t last_target = 0;
  // Runs until the parent says stop or goes away (its pipe ends), or on a signal.
  while (!g_stop && !parent_gone_) {
    if (target_ != last_target) {
      last_target = target_;
      t_phase = now_;
      base = c_.attempted;
    }
    uint64_t due = base + uint64_t(double(now_ - t_phase) / 1e9 * spec_.rate) + 1;
    while (c_.open_now + connecting_ < target_ && c_.attempted < due && connecting_ < 1000) start_connection();
    if (awaiting_ready_ && c_.open_now >= target_) {
      awaiting_ready_ = false;
      c_.connect_phase_ns = now_ - t_start;
      report(ReportKind::kReady);
    }
    if (now_ - last_report >= 250'000'000) {
      last_report = now_;
      report(ReportKind::kProgress);
    }
    poll_once(1);
  }
  close_all_and_drain(2.0);
  report(ReportKind::kFinal);
  return 0;
}
}  // namespace

bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
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

int run_worker(const Options& o, const WorkerSpec& spec, int report_fd) {
  Worker w(o, spec, report_fd);
  std::string error;
  if (!w.init(error)) {
    std::fprintf(stderr, "ringws-load worker %u: %s\n", spec.index, error.c_str());
    return 1;
  }
  return w.run_forked();
}


}  // namespace ringws::load
