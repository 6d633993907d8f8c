#include "core/timer_wheel.h"

#include <bit>

namespace ringws {

TimerWheel::TimerWheel(uint32_t slots, Resolve resolve, void* ctx, uint32_t start)
    : heads_(std::bit_ceil(slots < 2 ? 2u : slots), TimerLink::kNone),
      mask_(static_cast<uint32_t>(heads_.size()) - 1),
      now_(start),
      resolve_(resolve),
      ctx_(ctx) {}

// Ticks wrap at 2^32; comparisons go through a signed difference.
static bool is_due(uint32_t due, uint32_t now) { return static_cast<int32_t>(due - now) <= 0; }

void TimerWheel::link(uint32_t index, uint32_t due) {
  TimerLink& l = resolve_(ctx_, index);
  l.due = due;
  uint32_t& head = heads_[due & mask_];
  l.next = head;
  l.prev = kHead;
  if (head != TimerLink::kNone) resolve_(ctx_, head).prev = index;
  head = index;
  ++size_;
}

void TimerWheel::unlink(uint32_t index) {
  TimerLink& l = resolve_(ctx_, index);
  if (l.prev == kHead)
    heads_[l.due & mask_] = l.next;
  else
    resolve_(ctx_, l.prev).next = l.next;
  if (l.next != TimerLink::kNone) resolve_(ctx_, l.next).prev = l.prev;
  l.next = l.prev = TimerLink::kNone;
  --size_;
}

void TimerWheel::schedule(uint32_t index, uint32_t due) {
  if (resolve_(ctx_, index).linked()) unlink(index);
  // The slot for `now_` has been walked already: a due tick in the past goes to the next.
  if (is_due(due, now_)) due = now_ + 1;
  link(index, due);
}

void TimerWheel::cancel(uint32_t index) {
  if (resolve_(ctx_, index).linked()) unlink(index);
}

uint32_t TimerWheel::advance(uint32_t now, Expired expired) {
  uint32_t count = 0;
  // Walk every slot between the last tick and now, but never more than one full turn.
  uint32_t steps = now - now_;
  if (static_cast<int32_t>(steps) <= 0) return 0;
  if (steps > mask_ + 1) steps = mask_ + 1;
  uint32_t first = now - steps + 1;
  now_ = now;  // set first: callbacks that reschedule must see the new time
  for (uint32_t tick = first; tick != now + 1; ++tick) {
    uint32_t index = heads_[tick & mask_];
    while (index != TimerLink::kNone) {
      TimerLink& l = resolve_(ctx_, index);
      uint32_t next = l.next;
      if (is_due(l.due, now)) {
        unlink(index);
        ++count;
        expired(ctx_, index);
      }
      index = next;
    }
  }
  return count;
}

}  // namespace ringws
