// One coarse hashed timer wheel per reactor (DESIGN.md: no per-connection kernel timers).
// Entries are intrusive: the links live in the connection's slab slot as 32-bit indices,
// so arming a timer never allocates (STYLE.md habit 6). Time is an input: callers pass
// the tick they cached once per loop iteration (habit 7), which keeps tests deterministic.
//
// Expiry is lazy: an entry fires at the tick it was scheduled for; its owner then checks
// what is really due (activity since then may have moved its deadline) and reschedules.
#pragma once

#include <cstdint>
#include <vector>

namespace ringws {

/// The links embedded in an object that can sit on the wheel: 12 bytes.
struct TimerLink {
  static constexpr uint32_t kNone = 0xffffffffu;
  uint32_t next = kNone;
  uint32_t prev = kNone;  ///< kNone while unlinked
  uint32_t due = 0;       ///< tick at which the entry fires; meaningful only while linked
  bool linked() const { return prev != kNone; }
};

class TimerWheel {
 public:
  /// `resolve(ctx, index)` returns the TimerLink of the object at `index`; it must stay
  /// valid while that index is linked. `slots` is rounded up to a power of two. The wheel
  /// starts at tick `start`.
  using Resolve = TimerLink& (*)(void* ctx, uint32_t index);
  using Expired = void (*)(void* ctx, uint32_t index);
  TimerWheel(uint32_t slots, Resolve resolve, void* ctx, uint32_t start = 0);

  /// Links `index` to fire at tick `due`; a due tick in the past fires at the next advance.
  /// An entry due beyond one turn of the wheel waits extra turns in its slot. Scheduling a
  /// linked entry moves it.
  void schedule(uint32_t index, uint32_t due);
  void cancel(uint32_t index);

  /// Advances the wheel to tick `now`, calling `expired(ctx, index)` once for each entry
  /// whose due tick is <= now. An entry is unlinked before its call, so the callback may
  /// schedule it again (at a later tick) or free it, but must not cancel other entries.
  /// Returns the number expired.
  uint32_t advance(uint32_t now, Expired expired);

  uint32_t now() const { return now_; }
  uint32_t size() const { return size_; }
  uint32_t slots() const { return mask_ + 1; }

 private:
  static constexpr uint32_t kHead = 0xfffffffeu;  ///< prev of the first entry in a slot
  void link(uint32_t index, uint32_t due);
  void unlink(uint32_t index);

  std::vector<uint32_t> heads_;
  uint32_t mask_;
  uint32_t now_;
  uint32_t size_ = 0;
  Resolve resolve_;
  void* ctx_;
};

}  // namespace ringws
