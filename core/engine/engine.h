// The connection engine of one reactor: everything about a connection that does not
// depend on how the kernel is asked for bytes. It owns the connection slots, the timer
// wheel, the send queues and the framer pool; a Backend (core/backend.h) owns the loop and
// the descriptors and reports what happened. Its parts live in one file each:
//   engine.cpp       slots, the loop hooks, bytes in, teardown, the connection API
//   http_phase.cpp   the request: buffering, parsing, routing, admission, the 101
//   ws_phase.cpp     frames in (the FrameSink), the close handshake
//   send_path.cpp    queueing, the one send per connection at the end of an iteration
//   deadlines.cpp    handshake, ping, idle and close deadlines on the wheel
//   drain.cpp        the drain (1001 in jittered batches) and the exit
//   fanout.cpp       broadcast and posts between reactors
//   auth.cpp         --auth jwt: the token at the upgrade, identities, expiry, refresh;
//                    rate limits (the message class is checked in ws_phase.cpp)
//
// Life of a connection: Backend accepts -> on_accepted (slot) -> on_bytes: the request ->
// 101 -> on_bytes: frames -> App -> send() queues references to shared frames -> at the
// end of the iteration one send per connection carries everything queued -> close frame
// -> Backend::close -> on_released -> the slot is freed at the end of the iteration.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "alloc/shared_frame.h"
#include "alloc/slab.h"
#include "core/backend.h"
#include "core/auth/grants.h"
#include "core/auth/identity.h"
#include "core/auth/token_source.h"
#include "core/close_reason.h"
#include "core/engine/app.h"
#include "core/engine/connection.h"
#include "core/engine/engine_stats.h"
#include "core/engine/output_queue.h"
#include "core/rate_limit.h"
#include "core/timer_wheel.h"
#include "proto/jwt.h"
#include "proto/ws_framer.h"

namespace ringws {

struct Config;
struct HttpRequest;
struct ServerState;
class MemoryGovernor;

class Engine final : private FrameSink, private MemoryGate {
 public:
  /// `capacity`: connections the backend's descriptor table can hold at once.
  Engine(ServerState& state, unsigned id, std::unique_ptr<App> app, uint32_t capacity);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void attach(Backend& backend) { backend_ = &backend; }
  /// The engines a broadcast reaches (this one included); set before the loop runs.
  void set_peers(std::span<Engine* const> peers) { peers_ = peers; }

  // ---- The connection API for apps; this reactor's thread only ----------------------
  /// Queues `frame` (takes one reference) on an open connection; false (and the
  /// reference released) when the id is stale or the connection is not open.
  bool send(ConnId id, SharedFrame* frame);
  /// Queues `frame` on every open connection of every reactor; takes one reference.
  void broadcast(SharedFrame* frame);
  /// Starts the close handshake with `code` and `reason`.
  void close(ConnId id, uint16_t code, std::string_view reason);
  bool is_open(ConnId id) const;
  /// The app's 32-bit word of an open connection (zero at open); false for any other id.
  bool app_word(ConnId id, uint32_t& word) const;
  bool set_app_word(ConnId id, uint32_t word);
  /// Hands `frame` (one reference) to reactor `peer`, whose App::on_posted gets it with
  /// `tag` (< 2^31) on its own thread. Posts from one reactor to another keep their order.
  void post(unsigned peer, SharedFrame* frame, uint32_t tag);
  void count_fanout(uint64_t deliveries) { stats_.fanout_deliveries.fetch_add(deliveries, std::memory_order_relaxed); }
  /// Watches a descriptor of the app's on this reactor's loop (see FdWatcher); 0 or -errno.
  int watch_fd(int fd, bool read, bool write, FdWatcher& watcher) { return backend_->watch_fd(fd, read, write, watcher); }
  void unwatch_fd(int fd) { backend_->unwatch_fd(fd); }
  /// When the bytes being handled arrived, to within one loop iteration (monotonic ns).
  uint64_t now_ns() const { return now_ns_; }
  unsigned id() const { return id_; }
  /// The id of `conn` as clients and logs see it (format_conn_id); returns its length.
  size_t conn_text(ConnId conn, char (&out)[kConnIdTextSize]) const;
  size_t reactor_count() const { return peers_.size(); }
  ServerState& state() { return state_; }

  // ---- Identity (--auth jwt) and rate limits, for apps; this reactor's thread only ----
  bool auth_enabled() const { return verifier_ != nullptr || identities_ != nullptr; }
  /// The token's subject ("sub") of an open connection; empty without --auth jwt. Valid
  /// until the connection closes (a refresh keeps the subject).
  std::string_view user(ConnId id) const;
  /// The rooms and publish patterns of an open connection's token; null without --auth jwt.
  const Grants* grants(ConnId id) const;
  enum class Refresh { kOk, kAuthOff, kInvalid, kOtherUser, kClosed };
  /// Replaces an open connection's token with `token` (same subject): a new expiry, new
  /// grants, and a fresh token_expiring later. The reason for kInvalid goes to the log only.
  Refresh refresh_token(ConnId id, std::string_view token);
  /// Rate-limit class `klass` (1 to RateLimiter::kClasses - 1; 0 is the engine's messages),
  /// from App::on_attach.
  void define_rate(unsigned klass, RateSpec spec) { limiter_.define(klass, spec); }
  const RateSpec& rate_spec(unsigned klass) const { return limiter_.spec(klass); }
  struct RateResult {
    bool allowed = true;
    bool closed = false;          ///< refused once too often: the connection is closing (1008)
    uint32_t retry_after_ms = 0;  ///< when refused
  };
  /// Takes a token of class `klass` for an open connection (a closed one is refused and
  /// `closed`). More than --rate-limit-refusals refusals close it with 1008.
  RateResult take_token(ConnId id, unsigned klass);
  /// Wall-clock milliseconds now, derived from the loop's cached monotonic time.
  uint64_t now_wall_ms() const;
  /// Tests: pretend the wall clock reads `wall_ms` at this iteration (and keep it in step).
  void set_wall_ms(uint64_t wall_ms);

  // ---- Events from the backend -------------------------------------------------------
  void begin_iteration(uint64_t now_ns);
  /// Expires timers, runs the drain, sends what was queued, frees released slots.
  void end_iteration();
  /// The loop may end: the process is exiting and no slot is left.
  bool finished() const;
  /// When the backend must wake the loop at the latest (monotonic ns).
  uint64_t next_wakeup_ns() const;
  /// A new connection on descriptor `fd` (`admin`: from the admin listener, which serves
  /// the operator's endpoints and no WebSocket). `limited`: the descriptor table is nearly full
  /// (the backend keeps a reserve so /healthz and /metrics can still answer). Returns
  /// its id, or one with index kNoSlot when it was not taken (the backend closes `fd`).
  ConnId on_accepted(int fd, const sockaddr* peer, bool limited, bool admin = false);
  /// True when a setting needs each client's TCP address (the io_uring backend then looks
  /// it up, which multishot accept cannot report, and calls on_peer_address).
  bool needs_peer_address() const { return needs_peer_address_; }
  void on_peer_address(ConnId id, const sockaddr* peer);
  void on_bytes(Connection& c, ConnId id, std::span<const uint8_t> bytes);
  /// End of stream (0) or a receive error (-errno): the peer is gone.
  void on_peer_gone(Connection& c, ConnId id, int result);
  /// The pending send wrote `result` more bytes (or failed with -errno).
  void on_send_done(Connection& c, ConnId id, int result);
  /// Nothing in the kernel names the slot any more: it is freed at the end of the iteration.
  void on_released(ConnId id);
  /// A frame another reactor posted (one reference).
  void on_posted(SharedFrame* frame, uint32_t tag);
  /// The live connection `id` names, or null when the id is stale.
  Connection* connection(ConnId id) { return slab_.get(id.index, id.generation); }
  ConnId id_of(uint32_t index) const { return {index, slab_.generation(index)}; }

  uint32_t capacity() const { return slab_.capacity(); }
  uint32_t live_slots() const { return slab_.live_count(); }
  EngineStats& stats() { return stats_; }
  const EngineStats& stats() const { return stats_; }
  const Config& config() const { return config_; }

 private:
  // FrameSink (ws_phase.cpp): `conn` is the ConnId value passed to the framer.
  void on_message(uint64_t conn, Opcode opcode, std::span<const uint8_t> payload) override;
  void on_ping(uint64_t conn, std::span<const uint8_t> payload) override;
  void on_pong(uint64_t conn, std::span<const uint8_t> payload) override;
  void on_close(uint64_t conn, uint16_t code, std::string_view reason) override;
  // MemoryGate (engine.cpp): the governor's view of what the framer lends.
  bool may_lend(size_t bytes) override;
  void lent(int64_t bytes) override;

  // http_phase.cpp
  void handle_request_bytes(Connection& c, ConnId id, std::span<const uint8_t> bytes);
  /// Acts on a complete request; `rest`, then `more`, are the bytes that followed its head
  /// (frames a client sends right behind its handshake).
  void handle_request(Connection& c, ConnId id, const HttpRequest& request, std::span<const uint8_t> rest,
                      std::span<const uint8_t> more);
  bool admit_upgrade(Connection& c, ConnId id, const HttpRequest& request, std::string_view address,
                     const TokenSource& token);
  /// A request on the admin listener: GET /healthz, GET /metrics, POST /admin/drain.
  void handle_admin_request(Connection& c, ConnId id, const HttpRequest& request, std::string_view address);
  /// Answers `status` and closes; logs the refusal (with `detail`, when given, as "detail").
  void refuse(Connection& c, ConnId id, int status, RefuseReason why, std::string_view address,
              const char* detail = nullptr);
  void respond_and_close(Connection& c, ConnId id, int status, std::string_view body = {},
                         std::string_view content_type = "text/plain; charset=utf-8");
  void shed_at_accept(Connection& c, ConnId id);
  void free_handshake(Connection& c);

  // ws_phase.cpp
  void feed_framer(Connection& c, ConnId id, std::span<const uint8_t> bytes);
  /// Sends a close frame and tears down once it is out (or at the close deadline).
  void start_close(Connection& c, ConnId id, uint16_t code, std::string_view reason, bool wait_for_peer,
                   CloseReason why);
  /// Our last frame or response is out: close now after a completed close handshake,
  /// otherwise half-close and read (and drop) until the peer closes or the deadline.
  void finish_close(Connection& c, ConnId id);
  /// The connection stops being open for the app: on_close with its word.
  void notify_closed(Connection& c, ConnId id);

  // send_path.cpp
  enum class Queue : uint8_t { kData, kPong, kFinal };
  /// Queues `frame` (owning one reference). kData and kPong count against --max-backlog
  /// (over it: close 1008, false); kFinal (a close frame, an HTTP response) does not.
  bool enqueue(Connection& c, ConnId id, SharedFrame* frame, Queue kind = Queue::kData);
  void flush_queued();
  void flush(Connection& c, ConnId id);
  /// A message's last send completed: its delivery latency goes into the histogram.
  void observe_delivery(uint64_t origin_ns);

  // engine.cpp
  void teardown(Connection& c, ConnId id);
  void free_slot(uint32_t index);

  // auth.cpp
  /// Checks the upgrade's token into claims_; false after answering 401.
  bool authenticate(Connection& c, ConnId id, const TokenSource& token, std::string_view address);
  /// The connection is open: its identity from claims_.
  void install_identity(ConnId id);
  void release_identity(uint32_t index);
  /// The tick by which a token with `exp` (plus the leeway) has run out, rounded up.
  uint32_t expiry_tick(int64_t exp) const;
  /// The token's deadlines: true if the connection was closed or warned and rescheduled.
  bool on_token_deadline(Connection& c, ConnId id);
  /// The earliest token deadline (warning or expiry) of the connection, or UINT32_MAX.
  uint32_t token_due(uint32_t index) const;
  /// Takes a class-0 token for a message, ping or pong; false when refused (an error or
  /// no pong sent, or the connection closed).
  bool admit_message(Connection& c, ConnId id, bool reply);
  RateResult take(Connection& c, ConnId id, unsigned klass);
  void return_rate_records();

  // deadlines.cpp
  static void on_timer(void* self, uint32_t index);
  static TimerLink& resolve_timer(void* self, uint32_t index);
  void on_deadline(Connection& c, ConnId id);
  void schedule_next_deadline(Connection& c, ConnId id);
  /// The first tick at or after `seconds` from now: a deadline never fires early.
  uint32_t tick_after(uint32_t seconds) const;

  // drain.cpp
  void follow_stop_flags();
  void begin_drain();
  void drain_batch();
  void begin_exit();
  void cut_remaining();

  // fanout.cpp
  void deliver_to_all(SharedFrame* frame);

  ServerState& state_;
  const Config& config_;
  MemoryGovernor& governor_;
  unsigned id_;
  std::unique_ptr<App> app_;
  Backend* backend_ = nullptr;
  std::span<Engine* const> peers_;

  Slab<Connection> slab_;
  TimerWheel wheel_;
  OutputQueues output_;
  FramerPool framer_;
  SharedFrame* ping_frame_;     ///< every keep-alive ping is this one frame, by reference
  SharedFrame* refusal_503_;    ///< the static 503 of a connection shed at accept
  std::vector<ConnId> to_flush_;     ///< connections with bytes queued this iteration
  std::vector<uint32_t> to_free_;    ///< slots released this iteration
  iovec iov_[64];                    ///< one send's gather list, rebuilt per send

  uint64_t start_ns_ = 0;
  uint64_t now_ns_ = 0;  ///< monotonic time of this iteration (STYLE.md habit 7)
  uint32_t now_ = 0;     ///< ticks (whole seconds) since start
  uint32_t app_tick_ = 0;  ///< the last tick App::on_tick saw
  bool needs_peer_address_ = false;
  bool draining_ = false;
  bool exiting_ = false;
  uint64_t drain_start_ns_ = 0;
  uint64_t next_drain_batch_ns_ = 0;
  uint32_t exit_deadline_ = 0;

  // --auth jwt (null otherwise) and rate limits.
  std::unique_ptr<JwtVerifier> verifier_;
  std::unique_ptr<IdentityTable> identities_;
  std::unique_ptr<GrantTable> grants_;
  RateLimiter limiter_;
  JwtClaims claims_;           ///< the upgrade's verified claims, between admission and open
  std::string token_scratch_;  ///< a percent-decoded query token, a target without its token
  int64_t wall_offset_ms_ = 0; ///< wall ms = monotonic ms + this
  bool wall_fixed_ = false;    ///< set_wall_ms() was called: no resync with the real clock

  EngineStats stats_;
};

}  // namespace ringws
