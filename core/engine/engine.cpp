#include "core/engine/engine.h"

#include <arpa/inet.h>
#include <algorithm>
#include <netinet/in.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/memory_governor.h"
#include "core/server_state.h"
#include "proto/http_response.h"

namespace ringws {

namespace {

constexpr uint32_t kMaxQueuedFrames = 1u << 22;  // per reactor (address space only)
constexpr uint64_t kNsPerTick = 1000000000ull;

/// A peer address as text; IPv4 clients of a dual-stack listener (::ffff:a.b.c.d) as IPv4.
void format_address(const sockaddr* addr, char* out, size_t size) {
  out[0] = '\0';
  if (addr->sa_family == AF_INET6) {
    auto* a6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], out, static_cast<socklen_t>(size));
    else
      inet_ntop(AF_INET6, &a6->sin6_addr, out, static_cast<socklen_t>(size));
  } else if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, out, static_cast<socklen_t>(size));
  }
}

SharedFrame* make_static_response(int status, std::string_view body) {
  std::string text = simple_response(status, body);
  SharedFrame* frame = SharedFrame::create(static_cast<uint32_t>(text.size()));
  if (frame) std::memcpy(frame->data(), text.data(), text.size());
  return frame;
}

}  // namespace

Engine::Engine(ServerState& state, unsigned id, std::unique_ptr<App> app, uint32_t capacity)
    : state_(state),
      config_(state.config),
      governor_(state.governor),
      id_(id),
      app_(std::move(app)),
      slab_(capacity),
      wheel_(256, &Engine::resolve_timer, this),
      output_(kMaxQueuedFrames, capacity),
      framer_(FramerLimits{state.config.max_message, this}),
      ping_frame_(make_frame(Opcode::kPing, {})),
      refusal_503_(make_static_response(503, "overloaded\n")),
      needs_peer_address_(state.config.needs_peer_address()),
      limiter_(capacity) {
  if (!ping_frame_ || !refusal_503_) {
    std::fputs("ringws: out of memory at start\n", stderr);
    std::abort();
  }
  start_ns_ = now_ns_ = 0;
  if (config_.auth == AuthMode::kJwt) {
    // Without a key (never, from run_server) every token is refused: fail closed.
    if (state.auth.key)
      verifier_ = std::make_unique<JwtVerifier>(state.auth.key->clone(), JwtLimits{.leeway_s = config_.jwt_leeway});
    identities_ = std::make_unique<IdentityTable>(capacity);
    grants_ = std::make_unique<GrantTable>(capacity);
  }
  limiter_.define(0, {config_.message_rate, config_.message_burst, "messages"});
  app_->on_attach(*this);
}

Engine::~Engine() {
  // The backend is gone: nothing in the kernel names a slot. Release what the slots hold.
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (slab_.get(i)) free_slot(i);
  ping_frame_->release();
  refusal_503_->release();
}

// ---------------------------------------------------------------------------------------
// The loop hooks

void Engine::begin_iteration(uint64_t now_ns) {
  if (start_ns_ == 0) {
    start_ns_ = now_ns;
    if (!wall_fixed_) wall_offset_ms_ = int64_t(wall_ms()) - int64_t(now_ns / 1000000);
  }
  now_ns_ = now_ns;
  now_ = static_cast<uint32_t>((now_ns_ - start_ns_) / kNsPerTick);
}

void Engine::end_iteration() {
  follow_stop_flags();
  wheel_.advance(now_, &Engine::on_timer);
  if (now_ != app_tick_) {
    app_tick_ = now_;
    // Once a second: follow the real wall clock (NTP steps), give back the rate-limit
    // records of connections whose buckets have refilled, and the app's own tick.
    if (!wall_fixed_) wall_offset_ms_ = int64_t(wall_ms()) - int64_t(now_ns_ / 1000000);
    return_rate_records();
    app_->on_tick(*this);
  }
  if (draining_ && !exiting_ && next_drain_batch_ns_ && now_ns_ >= next_drain_batch_ns_) drain_batch();
  if (exiting_) cut_remaining();
  // Sends go out last, so that everything queued during this iteration leaves together.
  flush_queued();
  for (uint32_t index : to_free_) free_slot(index);
  to_free_.clear();
  stats_.slots_in_use.store(slab_.live_count(), std::memory_order_relaxed);
}

bool Engine::finished() const {
  if (!exiting_) return false;
  if (slab_.live_count() == 0) return true;
  // The kernel never completed some operations: give up rather than hang (logged once by
  // cut_remaining).
  return static_cast<int32_t>(now_ - exit_deadline_) > 5;
}

uint64_t Engine::next_wakeup_ns() const {
  uint64_t next_tick = start_ns_ + (uint64_t(now_) + 1) * kNsPerTick;
  if (exiting_) return std::min(next_tick, now_ns_ + kNsPerTick / 10);
  if (draining_ && next_drain_batch_ns_) return std::min(next_tick, next_drain_batch_ns_);
  return next_tick;
}

// ---------------------------------------------------------------------------------------
// Events from the backend

ConnId Engine::on_accepted(int fd, const sockaddr* peer, bool limited, bool admin) {
  if (exiting_) return {};
  uint32_t index = slab_.allocate();
  if (index == kNoSlot) {
    stats_.accept_errors.fetch_add(1, std::memory_order_relaxed);
    return {};
  }
  Connection& c = *slab_.get(index);
  ConnId id = id_of(index);
  c.fd = fd;
  c.admin = admin ? 1 : 0;
  c.last_rx = tick_after(0);
  int64_t before = state_.connections.fetch_add(1, std::memory_order_relaxed);
  stats_.accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.slots_in_use.store(slab_.live_count(), std::memory_order_relaxed);
  // Over a limit the connection is still read once: a plain GET that arrives whole (a
  // health check, a scrape) is answered; anything else gets the 503 without any buffer lent.
  bool over_cap = state_.max_connections && before >= int64_t(state_.max_connections);
  bool pressure = governor_.over_high_water();
  if (pressure) governor_.count_shed(ShedWhat::kConnection);
  if (limited || over_cap || pressure) c.flags |= kLimited;
  if (needs_peer_address_ && !(c.flags & kLimited)) {
    uint32_t capacity = 1024 < config_.max_header_bytes ? 1024 : config_.max_header_bytes;
    if (auto* buffer = static_cast<HandshakeBuffer*>(std::malloc(sizeof(HandshakeBuffer) + capacity))) {
      governor_.charge(int64_t(sizeof(HandshakeBuffer) + capacity));
      buffer->length = 0;
      buffer->capacity = capacity;
      buffer->peer[0] = '\0';
      if (peer) format_address(peer, buffer->peer, sizeof buffer->peer);
      c.set_handshake(buffer);
    }
  }
  uint32_t allowed = config_.handshake_timeout;
  if ((c.flags & kLimited) && allowed > 2) allowed = 2;
  wheel_.schedule(index, tick_after(allowed));
  backend_->watch(c, id);
  return id;
}

void Engine::on_peer_address(ConnId id, const sockaddr* peer) {
  Connection* c = connection(id);
  if (c && c->state == ConnState::kHandshake && c->handshake())
    format_address(peer, c->handshake()->peer, sizeof c->handshake()->peer);
}

void Engine::on_bytes(Connection& c, ConnId id, std::span<const uint8_t> bytes) {
  if (c.state == ConnState::kTeardown) return;
  c.last_rx = tick_after(0);
  c.flags &= static_cast<uint8_t>(~kPingSent);
  stats_.bytes_in.fetch_add(bytes.size(), std::memory_order_relaxed);
  switch (c.state) {
    case ConnState::kHandshake:
      handle_request_bytes(c, id, bytes);
      return;
    case ConnState::kOpen:
      feed_framer(c, id, bytes);
      return;
    case ConnState::kClosing:
      // Waiting for the peer's close frame; anything else it sends is read and dropped.
      // (Only an upgraded connection has a framer: a refused request's kClosing has its
      // kCloseAfterSend set.)
      if ((c.flags & kUpgraded) && !(c.flags & (kCloseAfterSend | kHalfClosed))) feed_framer(c, id, bytes);
      return;
    case ConnState::kTeardown:
      return;
  }
}

void Engine::on_peer_gone(Connection& c, ConnId id, int /*result*/) { teardown(c, id); }

void Engine::on_released(ConnId id) {
  if (connection(id)) to_free_.push_back(id.index);
}

// ---------------------------------------------------------------------------------------
// Closing and freeing

void Engine::teardown(Connection& c, ConnId id) {
  if (c.state == ConnState::kTeardown) return;
  const bool was_open = c.state == ConnState::kOpen;
  if (was_open && (c.flags & kCloseReceived)) c.close_reason = static_cast<uint8_t>(CloseReason::kNormal);
  c.state = ConnState::kTeardown;
  // The request buffer goes now; the framer's state only when the slot is freed: a
  // teardown can happen inside FramerPool::feed (the peer's close frame), which still
  // holds the state.
  free_handshake(c);
  stats_.closed.fetch_add(1, std::memory_order_relaxed);
  stats_.closed_by[c.close_reason].fetch_add(1, std::memory_order_relaxed);
  state_.connections.fetch_sub(1, std::memory_order_relaxed);
  if (c.flags & kUpgraded) {
    stats_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
    state_.websocket_open.fetch_sub(1, std::memory_order_relaxed);
    if (c.client_key) state_.addresses.release(c.client_key);
    c.client_key = 0;
    if (config_.log_connections) {
      char conn[kConnIdTextSize];
      conn_text(id, conn);
      log_event(LogLevel::kInfo, "websocket_close", "\"conn\":\"%s\",\"reason\":\"%s\"", conn,
                close_reason_name(static_cast<CloseReason>(c.close_reason)));
    }
  }
  if (c.timer.linked()) wheel_.cancel(id.index);
  backend_->close(c, id);
  if (was_open) notify_closed(c, id);
}

void Engine::free_slot(uint32_t index) {
  Connection* c = slab_.get(index);
  if (!c) return;
  // The frames of a send can be freed only now: until its completion the kernel read them.
  output_.clear(c->output);
  if (c->lent_is_reader) {
    ReaderState* reader = c->reader();
    framer_.release(reader);
    c->set_reader(nullptr);
  }
  free_handshake(*c);
  release_identity(index);
  uint32_t rate = c->rate_handle();
  limiter_.release(rate);
  c->set_rate_handle(0);
  if (c->timer.linked()) wheel_.cancel(index);
  slab_.free(index);
}

void Engine::free_handshake(Connection& c) {
  HandshakeBuffer* buffer = c.handshake();
  if (!buffer) return;
  governor_.charge(-int64_t(sizeof(HandshakeBuffer) + buffer->capacity));
  std::free(buffer);
  c.set_handshake(nullptr);
}

// ---------------------------------------------------------------------------------------
// The connection API

size_t format_conn_id(char (&out)[kConnIdTextSize], const char* instance, unsigned reactor, ConnId id) {
  int n = std::snprintf(out, sizeof out, "%s.%x.%x.%x", instance, reactor, id.index, id.generation);
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof out - 1);
}

size_t Engine::conn_text(ConnId conn, char (&out)[kConnIdTextSize]) const {
  return format_conn_id(out, state_.instance.c_str(), id_, conn);
}

bool Engine::send(ConnId id, SharedFrame* frame) {
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) {
    frame->release();
    return false;
  }
  return enqueue(*c, id, frame);
}

void Engine::close(ConnId id, uint16_t code, std::string_view reason) {
  if (Connection* c = connection(id); c && c->state == ConnState::kOpen)
    start_close(*c, id, code, reason, true, CloseReason::kApplication);
}

bool Engine::is_open(ConnId id) const {
  const Connection* c = const_cast<Slab<Connection>&>(slab_).get(id.index, id.generation);
  return c && c->state == ConnState::kOpen;
}

bool Engine::app_word(ConnId id, uint32_t& word) const {
  const Connection* c = const_cast<Slab<Connection>&>(slab_).get(id.index, id.generation);
  if (!c || c->state != ConnState::kOpen) return false;
  word = c->app_word;
  return true;
}

bool Engine::set_app_word(ConnId id, uint32_t word) {
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) return false;
  c->app_word = word;
  return true;
}

// ---------------------------------------------------------------------------------------
// MemoryGate: what the framer lends, seen by the governor

bool Engine::may_lend(size_t /*bytes*/) { return !governor_.over_high_water(); }

void Engine::lent(int64_t bytes) { governor_.charge(bytes); }

}  // namespace ringws
