// A reactor: one thread, one io_uring, one SO_REUSEPORT listener with multishot accept into
// direct descriptors, one provided-buffer ring shared by all its connections, one slab of
// connection slots, one timer wheel. Nothing here is shared between reactors except
// broadcast frames (refcounted) posted with IORING_OP_MSG_RING.
//
// Life of a connection (DESIGN.md section 2): accept -> multishot POLLIN armed (256 B in
// the kernel, the cheapest wait) -> readable: one receive with buffer select and
// MSG_DONTWAIT, so a receive never stays armed (an armed receive holds ~864 B) -> bytes go
// to the HTTP parser, then to the framer -> replies queued as references to shared frames,
// one send in flight -> close frame, cancel, close the direct descriptor, free the slot.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "alloc/shared_frame.h"
#include "alloc/slab.h"
#include "core/app.h"
#include "core/close_reason.h"
#include "core/config.h"
#include "core/latency_histogram.h"
#include "core/connection.h"
#include "core/ring.h"
#include "core/server_state.h"
#include "core/timer_wheel.h"
#include "proto/ws_framer.h"

namespace ringws {

/// Counters a reactor keeps; read by other threads only roughly (relaxed).
struct ReactorStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> upgraded{0};
  std::atomic<uint64_t> closed{0};
  std::atomic<uint64_t> closed_by[static_cast<size_t>(CloseReason::kCount)]{};
  std::atomic<uint64_t> refused_by[static_cast<size_t>(RefuseReason::kCount)]{};
  std::atomic<uint64_t> buffer_starvations{0};  ///< receives that found the buffer ring empty
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> messages_out{0};  ///< frames queued (data, control and HTTP)
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> fanout_deliveries{0};  ///< copies of a shared frame queued by fan-out
  std::atomic<uint64_t> slots_in_use{0};
  std::atomic<uint64_t> websocket_open{0};
  LatencyHistogram delivery_latency;  ///< a message's arrival to its last send completion
};

class Reactor final : private FrameSink {
 public:
  Reactor(ServerState& state, unsigned id, std::unique_ptr<App> app);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  /// Opens the listener on `port` (0: pick one and store it back). Returns 0 or -errno.
  int open_listener(uint16_t& port);
  /// Sets up the ring and its buffers. Must run on the reactor's own thread: the ring is
  /// SINGLE_ISSUER and its registered fd belongs to the registering thread. Returns 0, or
  /// -errno with `what` naming the step that failed.
  int setup_ring(const char*& what);
  /// The reactors a broadcast reaches (including this one); set before run().
  void set_peers(std::span<Reactor* const> peers) { peers_ = peers; }
  /// Runs the loop until a stop request has drained every connection.
  void run();
  /// Thread-safe. The first call starts the drain (the caller has set
  /// ServerState::draining): upgrades get 503, connections get 1001 in jittered batches over
  /// --drain-seconds. After the caller sets ServerState::exit_now, the next call makes run()
  /// close the listener, cut what is left and return.
  void request_stop();
  /// WebSocket connections this reactor holds (relaxed; for the main thread's exit decision).
  uint64_t websocket_open() const { return stats_.websocket_open.load(std::memory_order_relaxed); }

  // The connection API for apps; only from this reactor's thread.
  /// Queues `frame` (takes one reference) on a connection; dropped if it is not open.
  void send(ConnId id, SharedFrame* frame);
  /// Queues `frame` on every open connection of every reactor; takes one reference.
  void broadcast(SharedFrame* frame);
  /// Starts the close handshake with `code` and `reason`.
  void close(ConnId id, uint16_t code, std::string_view reason);
  /// Queues `frame` (one reference) on the open connection in slot `index` of this reactor.
  /// For apps that drop every index they keep in App::on_close.
  void send_local(uint32_t index, SharedFrame* frame);
  /// Hands `frame` (one reference) to reactor `peer`, whose App::on_posted gets it with `tag`
  /// (< 2^31) on its own thread.
  void post(unsigned peer, SharedFrame* frame, uint32_t tag);
  /// The app's 32-bit word in the connection slot at `index` (zero on open).
  uint32_t* app_word(uint32_t index) {
    Connection* c = slab_.get(index);
    return c ? &c->app_word : nullptr;
  }
  void count_fanout(uint64_t deliveries) { stats_.fanout_deliveries.fetch_add(deliveries, std::memory_order_relaxed); }

  /// The monotonic time of the current loop iteration, in nanoseconds (when the bytes being
  /// handled arrived, to within one iteration).
  uint64_t now_ns() const { return now_ns_; }
  ServerState& state() { return state_; }
  std::span<Reactor* const> peers() const { return peers_; }
  unsigned id() const { return id_; }
  const ReactorStats& stats() const { return stats_; }
  uint32_t capacity() const { return max_connections_; }
  const RingFeatures& features() const { return features_; }

 private:
  // FrameSink: what the connection being fed (current_) decoded to.
  void on_message(Opcode opcode, std::span<const uint8_t> payload) override;
  void on_ping(std::span<const uint8_t> payload) override;
  void on_pong(std::span<const uint8_t> payload) override;
  void on_close(uint16_t code, std::string_view reason) override;

  io_uring_sqe* get_sqe();
  void handle(const io_uring_cqe& cqe);
  void on_accept(const io_uring_cqe& cqe);
  void on_poll(Connection& c, uint32_t index, const io_uring_cqe& cqe);
  void on_recv(Connection& c, uint32_t index, const io_uring_cqe& cqe);
  void on_send(Connection& c, uint32_t index, const io_uring_cqe& cqe);
  void on_cross_frame(SharedFrame* frame);
  static void on_timer(void* self, uint32_t index);
  static TimerLink& resolve_timer(void* self, uint32_t index);

  void arm_accept();
  void arm_poll(Connection& c, uint32_t index);
  void submit_recv(Connection& c, uint32_t index);
  void submit_send(Connection& c, uint32_t index);
  void submit_tick();
  void submit_peer_lookup(Connection& c, uint32_t index);
  void on_peer_address(Connection& c, const io_uring_cqe& cqe);
  void submit_wake_read();
  void post_cross(Reactor& peer, SharedFrame* frame, uint32_t tag);
  void submit_drain_tick();
  void on_drain_tick();
  void on_posted(SharedFrame* frame, uint32_t tag);

  void handle_bytes(Connection& c, uint32_t index, std::span<const uint8_t> bytes);
  void handle_handshake(Connection& c, uint32_t index, std::span<const uint8_t> bytes);
  void feed_framer(Connection& c, uint32_t index, std::span<const uint8_t> bytes);
  void respond_and_close(Connection& c, uint32_t index, int status, std::string_view body = {},
                         std::string_view content_type = "text/plain; charset=utf-8");
  void refuse(Connection& c, uint32_t index, int status, RefuseReason why, std::string_view address);
  void serve_plain_get(Connection& c, uint32_t index, std::string_view target);
  bool admit_upgrade(Connection& c, uint32_t index, const struct HttpRequest& request, std::string_view address);

  /// Queues `frame` (owning one reference). Returns false if the connection is over its
  /// backlog cap and is being closed as a slow consumer (the reference is released).
  bool enqueue(Connection& c, uint32_t index, SharedFrame* frame, bool exempt_from_cap = false);
  /// Sends a close frame and tears down once it is out (or at the close deadline).
  void start_close(Connection& c, uint32_t index, uint16_t code, std::string_view reason, bool wait_for_peer,
                   CloseReason why);
  /// The last frame or response is out: close now after a completed close handshake,
  /// otherwise half-close and drain input until the peer closes or the deadline passes.
  void finish_close(Connection& c, uint32_t index);
  void teardown(Connection& c, uint32_t index);
  void submit_close(Connection& c, uint32_t index);
  void free_slot(Connection& c, uint32_t index);
  void op_done(Connection& c, uint32_t index);
  void begin_drain();
  void begin_exit();
  void schedule_next_deadline(Connection& c, uint32_t index);

  ConnId id_of(uint32_t index) const { return {index, slab_.generation(index)}; }
  Connection* resolve(ConnId id) { return slab_.get(id.index, id.generation); }

  ServerState& state_;
  const Config& config_;
  unsigned id_;
  std::unique_ptr<App> app_;
  io_uring ring_{};
  bool ring_ready_ = false;
  RingFeatures features_;
  BufferRing buffers_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  __kernel_timespec tick_interval_{};
  uint32_t max_connections_ = 0;

  Slab<Connection> slab_;
  TimerWheel wheel_;
  Slab<SendNode> send_nodes_;
  FramerPool framer_;
  std::vector<uint32_t> parked_;  ///< connections waiting for receive buffers
  std::vector<uint32_t> retry_;   ///< parked_ of the previous iteration, being retried
  SharedFrame* ping_frame_;       ///< every keep-alive ping is this one frame, by reference

  std::span<Reactor* const> peers_;
  uint64_t start_ns_ = 0;
  uint64_t now_ns_ = 0;  ///< monotonic time of this iteration, cached once (STYLE.md habit 7)
  uint32_t now_ = 0;     ///< current tick (seconds since start)
  bool draining_ = false;
  bool exiting_ = false;   ///< the drain is over: listener closed, remaining slots torn down
  uint64_t drain_start_ns_ = 0;
  uint32_t exit_deadline_ = 0;
  bool accept_armed_ = false;
  bool lookup_peers_ = false;  ///< a setting needs the TCP peer's address (see setup_ring)
  __kernel_timespec drain_tick_interval_{};

  uint32_t current_ = kNoSlot;  ///< the connection whose bytes the framer is decoding
  ReactorStats stats_;
};

}  // namespace ringws
