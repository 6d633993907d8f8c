// Deadlines on the reactor's one timer wheel (DESIGN.md: no per-connection kernel timers).
// Each connection has one entry, for whichever comes first of its handshake, ping, idle,
// close or token (auth.cpp: token_expiring, then 4001) deadline; entries expire lazily and are rescheduled from what is really due.
//
// Ticks are whole seconds since the reactor started. A deadline is rounded up to the next
// tick and the time of the last bytes is rounded up too, so nothing fires early: a request
// allowed one second is never cut off before a full second has passed.
#include <algorithm>

#include "core/config.h"
#include "core/engine/engine.h"

namespace ringws {

namespace {
constexpr uint64_t kNsPerTick = 1000000000ull;
}

uint32_t Engine::tick_after(uint32_t seconds) const {
  uint64_t elapsed = now_ns_ >= start_ns_ ? now_ns_ - start_ns_ : 0;
  return static_cast<uint32_t>((elapsed + kNsPerTick - 1) / kNsPerTick) + seconds;
}

TimerLink& Engine::resolve_timer(void* self, uint32_t index) {
  return static_cast<Engine*>(self)->slab_.get(index)->timer;
}

void Engine::on_timer(void* self_ptr, uint32_t index) {
  auto& self = *static_cast<Engine*>(self_ptr);
  if (Connection* c = self.slab_.get(index)) self.on_deadline(*c, self.id_of(index));
}

void Engine::on_deadline(Connection& c, ConnId id) {
  switch (c.state) {
    case ConnState::kHandshake:
      c.close_reason = static_cast<uint8_t>(CloseReason::kHandshakeTimeout);
      teardown(c, id);
      return;
    case ConnState::kClosing:
      teardown(c, id);  // the peer never answered our close, or never read it
      return;
    case ConnState::kTeardown:
      return;
    case ConnState::kOpen:
      break;
  }
  if (on_token_deadline(c, id)) {
    if (c.state == ConnState::kOpen) schedule_next_deadline(c, id);
    return;
  }
  // Silence in whole ticks; last_rx was rounded up, so this never overstates it.
  int32_t silent = static_cast<int32_t>(now_ - c.last_rx);
  if (silent >= static_cast<int32_t>(config_.idle_timeout)) {
    start_close(c, id, 1001, "idle timeout", false, CloseReason::kIdleTimeout);
    return;
  }
  if (silent >= static_cast<int32_t>(config_.ping_interval) && !(c.flags & kPingSent)) {
    c.flags |= kPingSent;
    ping_frame_->retain();
    enqueue(c, id, ping_frame_);
    if (c.state != ConnState::kOpen) return;
  }
  schedule_next_deadline(c, id);
}

void Engine::schedule_next_deadline(Connection& c, ConnId id) {
  uint32_t due = c.flags & kPingSent ? c.last_rx + config_.idle_timeout : c.last_rx + config_.ping_interval;
  wheel_.schedule(id.index, std::min(due, token_due(id.index)));
}

}  // namespace ringws
