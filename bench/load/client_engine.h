// The client side of ringws-load's workers: one epoll loop over non-blocking sockets, each
// a WebSocket client connection from connect() to close. It owns the sockets, the
// handshake, framing, pings, closes, timeouts and the counters; what to send and what a
// message means belong to the mode (worker.cpp), reached through two hooks per engine (not
// per connection).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/load/conn_slots.h"
#include "bench/load/histogram.h"
#include "bench/load/options.h"
#include "bench/load/report.h"
#include "bench/load/ws_client.h"

namespace ringws::load {

uint64_t now_ns();  ///< CLOCK_MONOTONIC, shared by all processes of a run

/// Resolves the URL's host once per run; false with `error` set when it does not resolve.
bool resolve_target(const Options& o, std::string& error);

/// Opens a non-blocking socket to the resolved target and starts connect(): TCP_NODELAY
/// unless --no-nodelay, SO_RCVBUF when --rcvbuf is set (before connect, so the window the
/// server sees is small from the start), bound to source address `source_index` (round
/// robin over --source-ips) when given. Returns the descriptor, or -1 with `error` set.
int open_client_socket(const Options& o, uint64_t source_index, std::string& error);
/// An epoll instance for a load generator's sockets, and how many sockets this process may
/// open (RLIMIT_NOFILE less 64 for everything else). False with `error` set.
bool open_client_epoll(int& ep, uint64_t& max_fds, std::string& error);

enum class ConnState : uint8_t { kFree, kConnecting, kHandshake, kOpen, kClosing };

// One client connection. Buffers are heap strings that exist only while needed (a partial
// frame, unsent bytes, a fragmented message), so an idle connection costs this struct only.
struct ClientConn {
  int fd = -1;
  uint32_t gen = 0;
  ConnState state = ConnState::kFree;
  bool out_armed = false;
  bool sent_close = false;
  WsOp msg_op = WsOp::kCont;
  uint64_t t0 = 0;       // connect() time
  uint64_t seq = 0;      // echo: next sequence number
  uint32_t open_pos = 0;  // index in open_list_ while open (O(1) removal)
  std::unique_ptr<std::string> key, in, out, msg;
};

/// A handshake or close deadline; stale once the slot's generation moved on.
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

class ClientEngine {
 public:
  /// `source_offset` picks this engine's first --source-ips address (round robin from there).
  ClientEngine(const Options& o, unsigned source_offset);
  virtual ~ClientEngine();
  ClientEngine(const ClientEngine&) = delete;
  ClientEngine& operator=(const ClientEngine&) = delete;

  bool init(std::string& error);

 protected:
  /// A connection completed its handshake (its 101 was checked).
  virtual void on_open(uint32_t slot) = 0;
  /// A complete text or binary message (fragments reassembled); payload valid during the call.
  virtual void on_message(uint32_t slot, WsOp op, std::span<const uint8_t> payload) = 0;
  /// The descriptor given to watch_fd() is readable.
  virtual void on_watched_fd() {}

  int start_connection();
  void send_frame(uint32_t slot, WsOp op, std::span<const uint8_t> payload);
  void send_frame(uint32_t slot, WsOp op, std::string_view p) {
    send_frame(slot, op, {reinterpret_cast<const uint8_t*>(p.data()), p.size()});
  }
  /// Sends close 1000; the connection ends when the server answers (or after a timeout).
  void start_close(uint32_t slot);
  /// Waits up to `timeout_ms` for socket events and handles them; updates now_.
  void poll_once(int timeout_ms);
  /// Closes every connection (close frames, up to `seconds` for the answers); records
  /// open_at_stop first.
  void close_all_and_drain(double seconds);
  /// Adds a descriptor (the parent's command pipe) to the loop: on_watched_fd() when readable.
  bool watch_fd(int fd);
  bool is_open(uint32_t slot) const { return conns_[slot].state == ConnState::kOpen; }
  ClientConn& conn(uint32_t slot) { return conns_[slot]; }

  const Options& o_;
  Counters c_;
  Histogram handshake_;  ///< connect() to a checked 101
  Histogram closed_after_;  ///< connect() to a close the server started
  std::string last_error_;
  uint64_t now_ = 0;         ///< cached once per loop turn
  uint64_t connecting_ = 0;  ///< in kConnecting or kHandshake
  uint64_t max_fds_ = 0;     ///< this process's descriptor budget for sockets
  std::vector<uint32_t> open_list_;  ///< open slots, for random or round-robin senders
  std::string scratch_;      ///< a message being built by the mode
  Rng rng_{1};

 private:
  void on_event(uint32_t slot, uint32_t events);
  void on_connected(uint32_t slot);
  void on_readable(uint32_t slot);
  void process(uint32_t slot, std::span<const uint8_t> bytes);
  bool handle_frame(uint32_t slot, const FrameHeader& h, std::span<const uint8_t> payload);
  void write_bytes(uint32_t slot, const std::string& bytes);
  void flush(uint32_t slot);
  void set_out_armed(uint32_t slot, bool on);
  void fail(uint32_t slot, uint64_t Counters::*why, const std::string& error);
  void lost(uint32_t slot);  // the server went away (or answered our close)
  void destroy(uint32_t slot);
  void expire(uint64_t now);

  unsigned source_offset_ = 0;
  int ep_ = -1;
  ConnSlots<ClientConn> conns_;
  std::deque<Deadline> deadlines_;
  std::string read_buf_, frame_, request_;
  uint64_t source_next_ = 0;
};

}  // namespace ringws::load
