// The drain (DESIGN.md section 3: what an ALB target does between deregistration and
// SIGKILL) and the exit. The main thread sets ServerState::draining, later exit_now; each
// engine follows at the end of its next iteration (Backend::wake makes that prompt).
#include "core/config.h"
#include "core/engine/engine.h"
#include "core/log.h"
#include "core/server_state.h"

namespace ringws {

namespace {

constexpr uint64_t kBatchIntervalNs = 100 * 1000 * 1000;  // a batch of 1001s every 100 ms

/// A stable pseudo-random number in [0, 1024) per slot, so the drain's batches are spread
/// over the window without keeping any per-connection state.
uint32_t drain_jitter(uint32_t index, uint16_t generation) {
  uint32_t h = index * 2654435761u ^ (uint32_t(generation) * 40503u);
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return h & 1023;
}

}  // namespace

void Engine::follow_stop_flags() {
  if (!draining_ && state_.draining.load(std::memory_order_relaxed)) begin_drain();
  if (!exiting_ && state_.exit_now.load(std::memory_order_acquire)) begin_exit();
}

void Engine::begin_drain() {
  draining_ = true;
  drain_start_ns_ = now_ns_;
  drain_batch();  // the first batch goes at once
}

void Engine::drain_batch() {
  // Close every connection whose jitter falls below the elapsed share of the window, so
  // closes (and the clients' reconnects elsewhere) spread evenly over --drain-seconds.
  uint64_t window_ns = uint64_t(config_.drain_seconds) * 1000000000ull;
  uint64_t elapsed = now_ns_ - drain_start_ns_;
  uint32_t threshold = window_ns == 0 || elapsed >= window_ns ? 1024 : static_cast<uint32_t>(elapsed * 1024 / window_ns);
  for (uint32_t i = 0; i < slab_.high_water(); ++i) {
    Connection* c = slab_.get(i);
    if (c && c->state == ConnState::kOpen && drain_jitter(i, slab_.generation(i)) < threshold)
      start_close(*c, id_of(i), 1001, "server shutting down", true, CloseReason::kShutdown);
  }
  next_drain_batch_ns_ = threshold < 1024 ? now_ns_ + kBatchIntervalNs : 0;
}

void Engine::begin_exit() {
  // No WebSocket connection is left in the process (or the drain ran out of time): stop
  // listening, cut what is left, and end once the backend has released every slot.
  exiting_ = true;
  exit_deadline_ = now_ + config_.close_timeout;
  backend_->stop_listening();
  app_->on_exit(*this);
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i)) teardown(*c, id_of(i));
}

void Engine::cut_remaining() {
  if (static_cast<int32_t>(now_ - exit_deadline_) < 0) return;
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i)) teardown(*c, id_of(i));
  if (finished() && slab_.live_count() > 0) {
    // The kernel never completed some operations: say so rather than hang.
    uint32_t slots = 0, ops = 0;
    for (uint32_t i = 0; i < slab_.high_water(); ++i)
      if (Connection* c = slab_.get(i)) {
        ++slots;
        ops += c->ops_in_flight;
      }
    log_event(LogLevel::kWarn, "drain_incomplete", "\"reactor\":%u,\"slots\":%u,\"ops\":%u", id_, slots, ops);
  }
}

}  // namespace ringws
