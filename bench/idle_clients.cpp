// ringws-idle-clients: opens N WebSocket connections to a server and holds them idle, so
// that the memory the server spends per idle connection can be measured
// (scripts/memory-figure.sh). One process, epoll, non-blocking sockets.
//
//   ringws-idle-clients [options] ws://HOST:PORT/PATH
//     --connections N   connections to open (default 1000)
//     --rate R          new connections started per second (default 2000)
//     --concurrency C   handshakes in flight at once (default 256)
//     --source-ips L    comma-separated local addresses to bind before connect, used in
//                       turn, so that many connections do not exhaust one address's ports
//                       (default 127.0.0.1)
//     --timeout S       seconds allowed for the whole connect phase (default 60)
//     --hold S          seconds to hold the connections once all are open (default 300)
//     --max-failures F  failed attempts retried before giving up (default 100)
//     --paths-file F    request targets, one a line, used in turn instead of the URL's path
//                       (connection i takes line i modulo their number): for example one
//                       ?token=... per connection, each for another user
//
// When all N are open it prints `READY open=<n> failed=<n>` on stdout (failed counts the
// attempts that were retried), then holds: it answers pings with masked pongs and counts
// closes from the server. At the end of --hold, or on SIGTERM/SIGINT, it sends close 1000
// on every connection, prints `DONE open=<n> server_closed=<n>` and exits 0. It exits 1
// with a message if the N connections cannot be opened within --timeout, 2 on bad usage.
// Progress goes to stderr.
//
// The client's memory is not what is measured, but it keeps to a small fixed struct per
// connection and frees its handshake buffer once the connection is open.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponse = 8192;     // a 101 response larger than this is refused
constexpr size_t kMaxStash = 1024;        // partial frame header or control frame
constexpr uint32_t kFdMargin = 32;        // descriptors kept for stdio, epoll, signalfd
constexpr uint64_t kSignalTag = ~0ull;    // epoll data of the signalfd

struct Options {
  std::string host;
  uint16_t port = 0;
  std::string path = "/";
  std::vector<std::string> paths;  ///< --paths-file: used in turn instead of `path`
  uint32_t connections = 1000;
  double rate = 2000;
  uint32_t concurrency = 256;
  std::vector<sockaddr_in> sources;
  double timeout = 60;
  double hold = 300;
  uint32_t max_failures = 100;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "ringws-idle-clients: %s\n"
               "usage: ringws-idle-clients [--connections N] [--rate R] [--concurrency C]\n"
               "         [--source-ips A,B,...] [--timeout S] [--hold S] [--max-failures F]\n"
               "         [--paths-file F]\n"
               "         ws://HOST:PORT/PATH\n",
               msg);
  std::exit(2);
}

template <typename T>
T parse_number(std::string_view s, const char* what) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) {
    std::string m = std::string("bad number for ") + what + ": '" + std::string(s) + "'";
    usage(m.c_str());
  }
  return value;
}

std::optional<sockaddr_in> ipv4(std::string_view text, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), &a.sin_addr) != 1) return std::nullopt;
  return a;
}

// ws://HOST:PORT/PATH, HOST a dotted IPv4 address (loopback benchmarks need no resolver).
void parse_url(std::string_view url, Options& o) {
  constexpr std::string_view kScheme = "ws://";
  if (!url.starts_with(kScheme)) usage("the URL must start with ws://");
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) usage("the URL needs an explicit port");
  o.host = std::string(authority.substr(0, colon));
  o.port = parse_number<uint16_t>(authority.substr(colon + 1), "port");
  if (o.port == 0) usage("port 0 in the URL");
  if (!ipv4(o.host, o.port)) usage("HOST must be an IPv4 address");
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_url = false;
  std::string sources = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage(("missing value for " + std::string(a)).c_str());
      return argv[++i];
    };
    if (a == "--connections") o.connections = parse_number<uint32_t>(value(), "--connections");
    else if (a == "--rate") o.rate = parse_number<double>(value(), "--rate");
    else if (a == "--concurrency") o.concurrency = parse_number<uint32_t>(value(), "--concurrency");
    else if (a == "--source-ips") sources = std::string(value());
    else if (a == "--timeout") o.timeout = parse_number<double>(value(), "--timeout");
    else if (a == "--hold") o.hold = parse_number<double>(value(), "--hold");
    else if (a == "--max-failures") o.max_failures = parse_number<uint32_t>(value(), "--max-failures");
    else if (a == "--paths-file") {
      std::ifstream in{std::string(value())};
      if (!in) usage("cannot read --paths-file");
      for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] == '/') o.paths.push_back(line);
      if (o.paths.empty()) usage("--paths-file has no line starting with /");
    } else if (a == "-h" || a == "--help") usage("help");
    else if (!a.starts_with("--") && !have_url) { parse_url(a, o); have_url = true; }
    else usage(("unknown argument " + std::string(a)).c_str());
  }
  if (!have_url) usage("missing ws://HOST:PORT/PATH");
  if (o.connections == 0) usage("--connections must be at least 1");
  if (!(o.rate > 0)) usage("--rate must be positive");
  if (o.concurrency == 0) usage("--concurrency must be at least 1");
  if (!(o.timeout > 0) || !(o.hold >= 0)) usage("--timeout must be positive, --hold not negative");
  std::string_view rest = sources;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    auto a = ipv4(one, 0);
    if (!a) usage(("bad source address '" + std::string(one) + "'").c_str());
    o.sources.push_back(*a);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }
  if (o.sources.empty()) usage("--source-ips is empty");
  return o;
}

// Sec-WebSocket-Accept for `key` (RFC 6455 section 4.2.2), with OpenSSL.
std::string expected_accept(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in = std::string(key) + std::string(kGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr) != 1) std::abort();
  char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), digest, static_cast<int>(len));
  return std::string(out, static_cast<size_t>(n));
}

void random_bytes(void* p, size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(p), static_cast<int>(n)) != 1) {
    std::fprintf(stderr, "ringws-idle-clients: RAND_bytes failed\n");
    std::exit(1);
  }
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Checks a complete response head (up to and including the blank line). Returns an empty
// string if it is a valid 101 upgrade for `accept`, otherwise what is wrong.
std::string check_response(std::string_view head, std::string_view accept) {
  size_t eol = head.find("\r\n");
  std::string_view status = head.substr(0, eol);
  if (!status.starts_with("HTTP/1.1 101")) return "status '" + std::string(status) + "'";
  bool upgrade = false, connection = false, accepted = false;
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos || end == pos) break;
    std::string_view line = head.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "malformed header line";
    std::string name = lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "upgrade") upgrade = lower(value) == "websocket";
    else if (name == "connection") connection = lower(value).find("upgrade") != std::string::npos;
    else if (name == "sec-websocket-accept") accepted = value == accept;
  }
  if (!upgrade) return "no 'Upgrade: websocket'";
  if (!connection) return "no 'Connection: Upgrade'";
  if (!accepted) return "wrong or missing Sec-WebSocket-Accept";
  return {};
}

enum class State : uint8_t { kFree, kConnecting, kHandshake, kOpen };

struct Conn {
  int fd = -1;
  State state = State::kFree;
  bool want_out = false;  // EPOLLOUT armed
  std::string hs;         // request while connecting, then the response head; freed once open
  std::string accept;     // expected Sec-WebSocket-Accept; freed once open
  uint32_t sent = 0;      // bytes of the request written
  uint64_t skip = 0;      // payload bytes of a data frame still to discard
  std::string stash;      // incomplete frame header or control frame
  std::string out;        // pongs and closes that the socket could not take at once
};

class Client {
 public:
  explicit Client(Options o) : o_(std::move(o)), conns_(o_.connections) {}

  int run();

 private:
  void start_one();
  void fail(uint32_t i, const char* why, int err = 0);
  void drop(uint32_t i);
  void on_event(uint32_t i, uint32_t events);
  void on_writable(uint32_t i);
  void on_readable(uint32_t i);
  void on_open_bytes(uint32_t i, const uint8_t* p, size_t n);
  bool send_frame(uint32_t i, uint8_t opcode, const uint8_t* payload, size_t len);
  void flush(uint32_t i);
  void set_out(uint32_t i, bool want);
  void protocol_error(uint32_t i, const char* why);
  double since(Clock::time_point t) const {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }
  void progress(const char* phase);

  Options o_;
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_;  // slots not in use
  int ep_ = -1;
  int sigfd_ = -1;
  uint32_t started_ = 0;  // attempts started, including retries
  uint32_t in_flight_ = 0;
  uint32_t open_ = 0;
  uint32_t failed_ = 0;
  uint32_t server_closed_ = 0;
  uint32_t next_source_ = 0;
  bool holding_ = false;
  bool stop_ = false;
  std::string last_error_;
  uint8_t buf_[65536];
};

void Client::progress(const char* phase) {
  std::fprintf(stderr, "ringws-idle-clients: %s open=%u/%u in_flight=%u failed=%u server_closed=%u\n",
               phase, open_, o_.connections, in_flight_, failed_, server_closed_);
}

void Client::set_out(uint32_t i, bool want) {
  Conn& c = conns_[i];
  if (c.want_out == want) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.u64 = i;
  if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) == 0) c.want_out = want;
}

void Client::drop(uint32_t i) {
  Conn& c = conns_[i];
  if (c.state == State::kOpen) --open_;
  else if (c.state != State::kFree) --in_flight_;
  if (c.fd >= 0) close(c.fd);  // also removes it from the epoll set
  c = Conn{};
  free_.push_back(i);
}

void Client::fail(uint32_t i, const char* why, int err) {
  char msg[256];
  std::snprintf(msg, sizeof msg, "%s%s%s", why, err ? ": " : "", err ? std::strerror(err) : "");
  if (last_error_ != msg) std::fprintf(stderr, "ringws-idle-clients: connection failed: %s\n", msg);
  last_error_ = msg;
  ++failed_;
  drop(i);
}

void Client::start_one() {
  uint32_t i = free_.back();
  free_.pop_back();
  Conn& c = conns_[i];
  ++started_;
  ++in_flight_;
  c.state = State::kConnecting;
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) return fail(i, "socket", errno);
  int one = 1;
  // Let connect() choose the port, so that a port is shared by connections to different
  // destinations and each source address offers the whole ephemeral range.
  setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const sockaddr_in& src = o_.sources[next_source_++ % o_.sources.size()];
  if (bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0)
    return fail(i, "bind to source address", errno);
  sockaddr_in dst = *ipv4(o_.host, o_.port);
  if (connect(c.fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 &&
      errno != EINPROGRESS)
    return fail(i, "connect", errno);

  uint8_t key_bytes[16];
  random_bytes(key_bytes, sizeof key_bytes);
  char key[25];
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(key), key_bytes, sizeof key_bytes);
  c.accept = expected_accept(std::string_view(key, 24));
  const std::string& path = o_.paths.empty() ? o_.path : o_.paths[i % o_.paths.size()];
  c.hs = "GET " + path + " HTTP/1.1\r\nHost: " + o_.host + ":" + std::to_string(o_.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
         std::string(key, 24) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";

  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = i;
  if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(i, "epoll_ctl", errno);
  c.want_out = true;
}

void Client::on_event(uint32_t i, uint32_t events) {
  Conn& c = conns_[i];
  if (c.state == State::kFree) return;
  if (c.state == State::kConnecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return fail(i, "connect", err);
    c.state = State::kHandshake;
  }
  if (events & EPOLLOUT) on_writable(i);
  if (conns_[i].state != State::kFree && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(i);
}

void Client::on_writable(uint32_t i) {
  Conn& c = conns_[i];
  if (c.state == State::kHandshake) {
    while (c.sent < c.hs.size()) {
      ssize_t n = send(c.fd, c.hs.data() + c.sent, c.hs.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) return;
        return fail(i, "send request", errno);
      }
      c.sent += static_cast<uint32_t>(n);
    }
    c.hs.clear();  // from here on it collects the response
    set_out(i, false);
    return;
  }
  flush(i);
}

void Client::flush(uint32_t i) {
  Conn& c = conns_[i];
  while (!c.out.empty()) {
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) return set_out(i, true);
      // The peer is gone; the read side will see it.
      c.out.clear();
      break;
    }
    c.out.erase(0, static_cast<size_t>(n));
  }
  std::string().swap(c.out);
  set_out(i, false);
}

// Client frames are masked (RFC 6455 section 5.3); control payloads are at most 125 bytes.
bool Client::send_frame(uint32_t i, uint8_t opcode, const uint8_t* payload, size_t len) {
  Conn& c = conns_[i];
  uint8_t f[2 + 4 + 125];
  f[0] = static_cast<uint8_t>(0x80 | opcode);
  f[1] = static_cast<uint8_t>(0x80 | len);
  random_bytes(f + 2, 4);
  for (size_t k = 0; k < len; ++k) f[6 + k] = payload[k] ^ f[2 + (k & 3)];
  c.out.append(reinterpret_cast<const char*>(f), 6 + len);
  if (!c.want_out) flush(i);
  return true;
}

void Client::protocol_error(uint32_t i, const char* why) {
  std::fprintf(stderr, "ringws-idle-clients: protocol error from the server: %s\n", why);
  uint8_t code[2] = {0x03, 0xea};  // 1002
  send_frame(i, 0x8, code, 2);
  ++server_closed_;
  drop(i);
}

void Client::on_readable(uint32_t i) {
  for (int round = 0; round < 4; ++round) {
    Conn& c = conns_[i];
    ssize_t n = recv(c.fd, buf_, sizeof buf_, 0);
    if (n < 0) {
      if (errno == EAGAIN) return;
      if (c.state == State::kOpen) { ++server_closed_; return drop(i); }
      return fail(i, "recv", errno);
    }
    if (n == 0) {
      if (c.state == State::kOpen) { ++server_closed_; return drop(i); }
      return fail(i, "server closed during the handshake");
    }
    const uint8_t* p = buf_;
    size_t len = static_cast<size_t>(n);
    if (c.state == State::kHandshake) {
      size_t old = c.hs.size();
      c.hs.append(reinterpret_cast<const char*>(p), len);
      size_t end = c.hs.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
      if (end == std::string::npos) {
        if (c.hs.size() > kMaxResponse) return fail(i, "response head too large");
        continue;
      }
      end += 4;
      std::string why = check_response(std::string_view(c.hs).substr(0, end), c.accept);
      if (!why.empty()) return fail(i, ("bad handshake response: " + why).c_str());
      size_t consumed = end - old;  // bytes of this read that belonged to the head
      std::string().swap(c.hs);
      std::string().swap(c.accept);
      c.state = State::kOpen;
      --in_flight_;
      ++open_;
      p += consumed;
      len -= consumed;
      if (len == 0) continue;
    }
    on_open_bytes(i, p, len);
    if (conns_[i].state != State::kOpen) return;
    if (static_cast<size_t>(n) < sizeof buf_) return;
  }
}

// Frames from the server: data is discarded, pings answered, a close counted and echoed.
void Client::on_open_bytes(uint32_t i, const uint8_t* p, size_t n) {
  Conn& c = conns_[i];
  std::string joined;
  if (!c.stash.empty()) {
    joined = std::move(c.stash);
    c.stash.clear();
    joined.append(reinterpret_cast<const char*>(p), n);
    p = reinterpret_cast<const uint8_t*>(joined.data());
    n = joined.size();
  }
  while (n > 0) {
    if (c.skip) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(c.skip, n));
      c.skip -= k;
      p += k;
      n -= k;
      continue;
    }
    if (n < 2) break;
    uint8_t opcode = p[0] & 0x0f;
    if (p[1] & 0x80) return protocol_error(i, "masked server frame");
    uint64_t plen = p[1] & 0x7f;
    size_t hlen = 2;
    if (plen == 126) hlen = 4;
    else if (plen == 127) hlen = 10;
    if (n < hlen) break;
    if (plen == 126) plen = (uint64_t{p[2]} << 8) | p[3];
    else if (plen == 127) { plen = 0; for (int k = 0; k < 8; ++k) plen = (plen << 8) | p[2 + k]; }
    if (opcode >= 0x8) {
      if (plen > 125 || !(p[0] & 0x80)) return protocol_error(i, "bad control frame");
      if (n < hlen + plen) break;
      const uint8_t* payload = p + hlen;
      if (opcode == 0x9) {
        send_frame(i, 0xA, payload, plen);
      } else if (opcode == 0x8) {
        send_frame(i, 0x8, payload, std::min<uint64_t>(plen, 2));
        ++server_closed_;
        return drop(i);
      }  // an unsolicited pong needs no answer
      p += hlen + plen;
      n -= hlen + plen;
      continue;
    }
    c.skip = plen;
    p += hlen;
    n -= hlen;
  }
  if (n > kMaxStash) return protocol_error(i, "oversized frame header");
  if (n) c.stash.assign(reinterpret_cast<const char*>(p), n);
}

int Client::run() {
  // Descriptors: one per connection, plus a margin; raise the soft limit to the hard one.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur < kFdMargin || o_.connections > rl.rlim_cur - kFdMargin) {
    std::fprintf(stderr,
                 "ringws-idle-clients: %u connections need %u descriptors, but RLIMIT_NOFILE is "
                 "%llu: open at most %llu per process (run several processes for more)\n",
                 o_.connections, o_.connections + kFdMargin,
                 static_cast<unsigned long long>(rl.rlim_cur),
                 static_cast<unsigned long long>(rl.rlim_cur > kFdMargin ? rl.rlim_cur - kFdMargin : 0));
    return 2;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sigfd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (sigfd_ < 0 || ep_ < 0) {
    std::perror("ringws-idle-clients: signalfd/epoll_create1");
    return 1;
  }
  epoll_event sev{};
  sev.events = EPOLLIN;
  sev.data.u64 = kSignalTag;
  epoll_ctl(ep_, EPOLL_CTL_ADD, sigfd_, &sev);

  free_.reserve(o_.connections);
  for (uint32_t i = o_.connections; i-- > 0;) free_.push_back(i);

  const auto t0 = Clock::now();
  auto last_progress = t0;
  std::vector<epoll_event> events(1024);
  Clock::time_point hold_start{};
  while (!stop_) {
    if (!holding_) {
      // Start as many attempts as the rate allows so far, within the in-flight bound.
      double allowed = o_.rate * since(t0) + 1;
      while (!free_.empty() && in_flight_ < o_.concurrency && started_ < allowed &&
             failed_ <= o_.max_failures)
        start_one();
      if (open_ == o_.connections) {
        holding_ = true;
        hold_start = Clock::now();
        progress("all open");
        std::printf("READY open=%u failed=%u\n", open_, failed_);
        std::fflush(stdout);
      } else if (failed_ > o_.max_failures || since(t0) > o_.timeout) {
        progress("giving up");
        std::fprintf(stderr,
                     "ringws-idle-clients: opened %u of %u connections (%u attempts failed%s%s) "
                     "within %.0f s\n",
                     open_, o_.connections, failed_, last_error_.empty() ? "" : "; last: ",
                     last_error_.c_str(), o_.timeout);
        return 1;
      }
    } else if (since(hold_start) >= o_.hold) {
      break;
    }
    int timeout_ms = holding_ ? 1000 : 10;
    int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      std::perror("ringws-idle-clients: epoll_wait");
      return 1;
    }
    for (int k = 0; k < n; ++k) {
      if (events[k].data.u64 == kSignalTag) {
        signalfd_siginfo si;
        while (read(sigfd_, &si, sizeof si) == sizeof si) stop_ = true;
        continue;
      }
      on_event(static_cast<uint32_t>(events[k].data.u64), events[k].events);
    }
    if (since(last_progress) >= (holding_ ? 10.0 : 1.0)) {
      last_progress = Clock::now();
      progress(holding_ ? "holding" : "connecting");
    }
  }
  if (stop_ && !holding_) {
    progress("interrupted");
    std::fprintf(stderr, "ringws-idle-clients: interrupted before all connections opened\n");
    return 1;
  }

  uint32_t still_open = open_;
  uint8_t normal[2] = {0x03, 0xe8};  // 1000
  for (uint32_t i = 0; i < conns_.size(); ++i) {
    if (conns_[i].state == State::kOpen) send_frame(i, 0x8, normal, 2);
    if (conns_[i].state != State::kFree) drop(i);
  }
  progress("closed");
  std::printf("DONE open=%u server_closed=%u\n", still_open, server_closed_);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  // Heap-allocated: the read buffer inside is too big for a comfortable stack frame.
  auto* client = new Client(std::move(o));
  int rc = client->run();
  delete client;
  return rc;
}
