#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ringws {
namespace {

// Stands in for a connection slab slot: the links are embedded, resolved by index.
struct Entry {
  TimerLink timer;
  uint32_t fired_at = 0;  // wheel time of the last expiry
  int fired = 0;          // how many times it expired
  uint32_t reschedule_in = 0;  // if non-zero, the callback schedules it again this far ahead
};

struct Fixture {
  std::vector<Entry> entries;
  std::vector<uint32_t> order;  // indices in expiry order
  TimerWheel* wheel = nullptr;

  explicit Fixture(size_t n) : entries(n) {}

  static TimerLink& resolve(void* ctx, uint32_t index) {
    return static_cast<Fixture*>(ctx)->entries.at(index).timer;
  }
  static void expired(void* ctx, uint32_t index) {
    auto* f = static_cast<Fixture*>(ctx);
    Entry& e = f->entries.at(index);
    EXPECT_FALSE(e.timer.linked()) << "an entry is unlinked before its callback";
    e.fired_at = f->wheel->now();
    ++e.fired;
    f->order.push_back(index);
    if (e.reschedule_in) f->wheel->schedule(index, f->wheel->now() + e.reschedule_in);
  }
  uint32_t advance(uint32_t now) { return wheel->advance(now, &Fixture::expired); }
};

struct Wheel {
  Fixture f;
  TimerWheel wheel;
  Wheel(size_t n, uint32_t slots, uint32_t start = 0)
      : f(n), wheel(slots, &Fixture::resolve, &f, start) {
    f.wheel = &wheel;
  }
  // Advances one tick at a time, as a reactor whose loop wakes every tick would.
  void step_to(uint32_t now) {
    while (wheel.now() != now) f.advance(wheel.now() + 1);
  }
};

TEST(TimerWheel, FiresAtTheDueTickAndNotBefore) {
  Wheel w(4, 8);
  w.wheel.schedule(0, 5);
  EXPECT_EQ(w.wheel.size(), 1u);
  EXPECT_TRUE(w.f.entries[0].timer.linked());
  for (uint32_t t = 1; t <= 4; ++t) {
    EXPECT_EQ(w.f.advance(t), 0u) << "fired early at tick " << t;
  }
  EXPECT_EQ(w.f.advance(5), 1u);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[0].fired_at, 5u);
  EXPECT_FALSE(w.f.entries[0].timer.linked());
  EXPECT_EQ(w.wheel.size(), 0u);
  EXPECT_EQ(w.f.advance(20), 0u) << "an expired entry fires once";
  EXPECT_EQ(w.f.entries[0].fired, 1);
}

TEST(TimerWheel, DueTickInThePastFiresAtTheNextAdvance) {
  Wheel w(2, 8, /*start=*/10);
  w.wheel.schedule(0, 3);
  w.wheel.schedule(1, 10);  // the current tick's slot has been walked already
  EXPECT_EQ(w.f.advance(11), 2u);
  EXPECT_EQ(w.f.entries[0].fired_at, 11u);
  EXPECT_EQ(w.f.entries[1].fired_at, 11u);
}

TEST(TimerWheel, ManyEntriesInOneSlotAllFire) {
  constexpr uint32_t kN = 100;
  Wheel w(kN, 8);
  // Same slot: some due this turn, some on later turns of the wheel.
  for (uint32_t i = 0; i < kN; ++i) w.wheel.schedule(i, 3 + 8 * (i % 3));
  EXPECT_EQ(w.wheel.size(), kN);
  uint32_t fired = 0;
  for (uint32_t t = 1; t <= 3 + 16; ++t) {
    uint32_t n = w.f.advance(t);
    fired += n;
    for (uint32_t i = 0; i < kN; ++i) {
      const Entry& e = w.f.entries[i];
      uint32_t due = 3 + 8 * (i % 3);
      EXPECT_EQ(e.fired, t >= due ? 1 : 0) << "entry " << i << " at tick " << t;
      if (e.fired) {
        EXPECT_EQ(e.fired_at, due);
      }
    }
  }
  EXPECT_EQ(fired, kN);
  EXPECT_EQ(w.wheel.size(), 0u);
}

TEST(TimerWheel, EntryBeyondOneTurnWaitsExtraTurns) {
  Wheel w(3, 4);
  ASSERT_EQ(w.wheel.slots(), 4u);
  w.wheel.schedule(0, 2);
  w.wheel.schedule(1, 2 + 4);       // one extra turn, same slot
  w.wheel.schedule(2, 2 + 4 * 10);  // ten extra turns, same slot
  w.step_to(2);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[1].fired, 0);
  w.step_to(5);
  EXPECT_EQ(w.f.entries[1].fired, 0);
  w.step_to(6);
  EXPECT_EQ(w.f.entries[1].fired, 1);
  EXPECT_EQ(w.f.entries[1].fired_at, 6u);
  w.step_to(41);
  EXPECT_EQ(w.f.entries[2].fired, 0);
  w.step_to(42);
  EXPECT_EQ(w.f.entries[2].fired, 1);
  EXPECT_EQ(w.f.entries[2].fired_at, 42u);
}

TEST(TimerWheel, SlotCountIsRoundedUpToAPowerOfTwo) {
  Wheel w(1, 5);
  EXPECT_EQ(w.wheel.slots(), 8u);
  // Due exactly one (rounded) turn ahead shares the slot of the current tick.
  w.wheel.schedule(0, 8);
  w.step_to(7);
  EXPECT_EQ(w.f.entries[0].fired, 0);
  w.step_to(8);
  EXPECT_EQ(w.f.entries[0].fired, 1);
}

TEST(TimerWheel, CancelUnlinksFromAnyPositionInTheSlot) {
  Wheel w(5, 8);
  for (uint32_t i = 0; i < 5; ++i) w.wheel.schedule(i, 4);  // one slot, list 4,3,2,1,0
  w.wheel.cancel(2);  // middle
  w.wheel.cancel(4);  // head
  w.wheel.cancel(0);  // tail
  w.wheel.cancel(0);  // cancelling an unlinked entry is harmless
  EXPECT_EQ(w.wheel.size(), 2u);
  EXPECT_FALSE(w.f.entries[2].timer.linked());
  EXPECT_EQ(w.f.advance(4), 2u);
  std::vector<uint32_t> fired = w.f.order;
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(w.wheel.size(), 0u);
}

TEST(TimerWheel, RescheduleMovesTheEntry) {
  Wheel w(2, 8);
  w.wheel.schedule(0, 3);
  w.wheel.schedule(1, 3);
  w.wheel.schedule(0, 6);  // later, another slot
  w.wheel.schedule(1, 2);  // earlier
  EXPECT_EQ(w.wheel.size(), 2u) << "moving does not add an entry";
  w.step_to(2);
  EXPECT_EQ(w.f.entries[1].fired_at, 2u);
  w.step_to(5);
  EXPECT_EQ(w.f.entries[0].fired, 0) << "the old due tick no longer fires";
  w.step_to(6);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[0].fired_at, 6u);
}

TEST(TimerWheel, CallbackMayRescheduleTheExpiredEntry) {
  Wheel w(3, 8);
  // A ping timer: fires every 3 ticks, re-armed from its own callback.
  w.f.entries[0].reschedule_in = 3;
  // Re-armed exactly one turn ahead: lands in the slot being walked and must not fire twice.
  w.f.entries[1].reschedule_in = 8;
  w.wheel.schedule(0, 3);
  w.wheel.schedule(1, 3);
  w.wheel.schedule(2, 3);  // a neighbour in the same slot must still fire
  w.step_to(3);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[1].fired, 1);
  EXPECT_EQ(w.f.entries[2].fired, 1);
  EXPECT_TRUE(w.f.entries[0].timer.linked());
  EXPECT_TRUE(w.f.entries[1].timer.linked());
  EXPECT_EQ(w.wheel.size(), 2u);
  w.step_to(12);
  EXPECT_EQ(w.f.entries[0].fired, 4);  // 3, 6, 9, 12
  EXPECT_EQ(w.f.entries[0].fired_at, 12u);
  EXPECT_EQ(w.f.entries[1].fired, 2);  // 3 and 11
  EXPECT_EQ(w.f.entries[1].fired_at, 11u);
  w.step_to(18);
  EXPECT_EQ(w.f.entries[1].fired, 2);
  w.step_to(19);
  EXPECT_EQ(w.f.entries[1].fired, 3);
  EXPECT_EQ(w.f.entries[1].fired_at, 19u);
}

TEST(TimerWheel, AdvancingManyTicksAtOnceFiresEverythingDue) {
  constexpr uint32_t kN = 64;
  Wheel w(kN, 8);
  for (uint32_t i = 0; i < kN; ++i) w.wheel.schedule(i, 1 + i);  // 1..64: eight turns
  // Jump 20 ticks (2.5 turns) in one call: exactly those due by then fire, each once.
  EXPECT_EQ(w.f.advance(20), 20u);
  for (uint32_t i = 0; i < kN; ++i) {
    EXPECT_EQ(w.f.entries[i].fired, i + 1 <= 20 ? 1 : 0) << "entry due at " << i + 1;
  }
  EXPECT_EQ(w.wheel.size(), kN - 20);
  EXPECT_EQ(w.f.advance(1000), kN - 20);
  EXPECT_EQ(w.wheel.size(), 0u);
  for (const Entry& e : w.f.entries) EXPECT_EQ(e.fired, 1);
}

TEST(TimerWheel, RescheduleDuringALargeJumpWaitsForALaterAdvance) {
  Wheel w(1, 8);
  w.f.entries[0].reschedule_in = 1;
  w.wheel.schedule(0, 2);
  // The entry fires once during the jump; its re-arm is relative to the new time.
  EXPECT_EQ(w.f.advance(30), 1u);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[0].timer.due, 31u);
  EXPECT_EQ(w.f.advance(31), 1u);
  EXPECT_EQ(w.f.entries[0].fired_at, 31u);
}

TEST(TimerWheel, AdvancingBackwardsOrToTheSameTickDoesNothing) {
  Wheel w(1, 8, 100);
  w.wheel.schedule(0, 101);
  EXPECT_EQ(w.f.advance(100), 0u);
  EXPECT_EQ(w.f.advance(50), 0u);
  EXPECT_EQ(w.wheel.now(), 100u) << "time does not go back";
  EXPECT_EQ(w.f.advance(101), 1u);
}

TEST(TimerWheel, TicksWrapAroundAt2To32) {
  constexpr uint32_t kStart = 0xfffffffau;  // six ticks before the wrap
  Wheel w(4, 8, kStart);
  w.wheel.schedule(0, 0xfffffffdu);  // before the wrap
  w.wheel.schedule(1, 0xffffffffu);  // the last tick before it
  w.wheel.schedule(2, 0u);           // the wrap itself
  w.wheel.schedule(3, 5u);           // after it
  w.step_to(0xfffffffcu);
  EXPECT_EQ(w.f.order.size(), 0u) << "a due tick after the wrap is not in the past";
  w.step_to(0xffffffffu);
  EXPECT_EQ(w.f.order, (std::vector<uint32_t>{0, 1}));
  w.step_to(4u);
  EXPECT_EQ(w.f.order, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(w.f.entries[2].fired_at, 0u);
  w.step_to(5u);
  EXPECT_EQ(w.f.entries[3].fired_at, 5u);
  EXPECT_EQ(w.wheel.size(), 0u);
}

TEST(TimerWheel, LargeJumpAcrossTheWrap) {
  Wheel w(2, 8, 0xfffffff0u);
  w.wheel.schedule(0, 0xfffffff8u);
  w.wheel.schedule(1, 40u);
  EXPECT_EQ(w.f.advance(10u), 1u);
  EXPECT_EQ(w.f.entries[0].fired, 1);
  EXPECT_EQ(w.f.entries[1].fired, 0);
  EXPECT_EQ(w.f.advance(40u), 1u);
  EXPECT_EQ(w.f.entries[1].fired_at, 40u);
}

TEST(TimerWheel, SizeTracksScheduleCancelAndExpiry) {
  Wheel w(10, 16);
  EXPECT_EQ(w.wheel.size(), 0u);
  for (uint32_t i = 0; i < 10; ++i) w.wheel.schedule(i, 1 + i);
  EXPECT_EQ(w.wheel.size(), 10u);
  w.wheel.schedule(3, 50);  // a move keeps the count
  EXPECT_EQ(w.wheel.size(), 10u);
  w.wheel.cancel(4);
  w.wheel.cancel(4);
  EXPECT_EQ(w.wheel.size(), 9u);
  w.f.advance(5);  // 1, 2, 3 (index 0..2); index 3 moved, index 4 cancelled
  EXPECT_EQ(w.wheel.size(), 6u);
}

}  // namespace
}  // namespace ringws
