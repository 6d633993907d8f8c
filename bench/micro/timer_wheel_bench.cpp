// The reactor's timer wheel (256 one-second slots) carrying 100,000 connections' deadlines.
#include <benchmark/benchmark.h>

#include <vector>

#include "bench/micro/micro.h"
#include "core/timer_wheel.h"

namespace ringws {
namespace {

constexpr uint32_t kEntries = 100000;
constexpr uint32_t kSlots = 256;        // as the reactor builds it
constexpr uint32_t kPingInterval = 25;  // the default --ping-interval, in ticks

struct Links {
  std::vector<TimerLink> links = std::vector<TimerLink>(kEntries);
  uint32_t expired = 0;
  uint32_t reschedule_in = 0;  // 0: expired entries are left unlinked
  TimerWheel* wheel = nullptr;

  static TimerLink& resolve(void* ctx, uint32_t index) { return static_cast<Links*>(ctx)->links[index]; }
  static void on_expired(void* ctx, uint32_t index) {
    Links& self = *static_cast<Links*>(ctx);
    ++self.expired;
    if (self.reschedule_in) self.wheel->schedule(index, self.wheel->now() + self.reschedule_in);
  }
};

/// A wheel with every entry linked, due spread evenly over the next `spread` ticks.
void fill(TimerWheel& wheel, uint32_t spread) {
  for (uint32_t i = 0; i < kEntries; ++i) wheel.schedule(i, wheel.now() + 1 + i % spread);
}

// A deadline moved (the handshake finished, a close began): unlink and relink one of 100k.
void BM_TimerReschedule(benchmark::State& state) {
  Links ctx;
  TimerWheel wheel(kSlots, &Links::resolve, &ctx);
  fill(wheel, kSlots);
  micro::Rng rng;
  for (auto _ : state) {
    uint32_t index = rng.next() % kEntries;
    wheel.schedule(index, wheel.now() + 1 + rng.next() % 300);
  }
  benchmark::DoNotOptimize(wheel.size());
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_TimerReschedule);

// A connection closes and another arrives at its index: cancel, then schedule anew.
void BM_TimerCancelSchedule(benchmark::State& state) {
  Links ctx;
  TimerWheel wheel(kSlots, &Links::resolve, &ctx);
  fill(wheel, kSlots);
  micro::Rng rng;
  for (auto _ : state) {
    uint32_t index = rng.next() % kEntries;
    wheel.cancel(index);
    wheel.schedule(index, wheel.now() + 10);  // the handshake timeout
  }
  benchmark::DoNotOptimize(wheel.size());
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_TimerCancelSchedule);

// One second of an idle server: advance one tick with 100k connections whose ping deadlines
// are spread over the ping interval; the 4,000 due ones are rescheduled one interval ahead.
void BM_TimerAdvanceSteady(benchmark::State& state) {
  Links ctx;
  TimerWheel wheel(kSlots, &Links::resolve, &ctx);
  ctx.wheel = &wheel;
  ctx.reschedule_in = kPingInterval;
  fill(wheel, kPingInterval);
  for (auto _ : state) {
    uint32_t n = wheel.advance(wheel.now() + 1, &Links::on_expired);
    benchmark::DoNotOptimize(n);
  }
  if (wheel.size() != kEntries) state.SkipWithError("entries were lost");
  state.SetItemsProcessed(static_cast<int64_t>(ctx.expired));
}
RINGWS_MICRO(BM_TimerAdvanceSteady);

// A burst: 100k deadlines scheduled over one turn of the wheel, then a turn's advance
// fires them all (after a long stall, say); items are entries scheduled and expired.
void BM_TimerScheduleAdvanceAll(benchmark::State& state) {
  Links ctx;
  TimerWheel wheel(kSlots, &Links::resolve, &ctx);
  ctx.wheel = &wheel;
  for (auto _ : state) {
    fill(wheel, kSlots);
    uint32_t n = wheel.advance(wheel.now() + kSlots, &Links::on_expired);
    benchmark::DoNotOptimize(n);
  }
  if (ctx.expired != kEntries * static_cast<uint64_t>(state.iterations()))
    state.SkipWithError("not every entry expired");
  state.SetItemsProcessed(static_cast<int64_t>(ctx.expired));
}
RINGWS_MICRO(BM_TimerScheduleAdvanceAll);

}  // namespace
}  // namespace ringws
