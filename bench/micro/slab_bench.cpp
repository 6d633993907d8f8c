// Connection-state allocation: the reactor's Slab<Connection> against new/delete of the same
// struct. 10,000 connections live; each iteration one closes and another takes its place.
#include <benchmark/benchmark.h>

#include <vector>

#include "alloc/slab.h"
#include "bench/micro/micro.h"
#include "core/engine/connection.h"

namespace ringws {
namespace {

constexpr uint32_t kLive = 10000;
constexpr uint32_t kCapacity = 1u << 17;

// allocate()/free(): a connection closes and the next accept takes a slot from the free
// list (the reactor's Slab<Connection>, and its SendNode queue the same way).
void BM_SlabAllocateFree(benchmark::State& state) {
  Slab<Connection> slab(kCapacity);
  std::vector<uint32_t> live;
  for (uint32_t i = 0; i < kLive; ++i) live.push_back(slab.allocate());
  micro::Rng rng;
  for (auto _ : state) {
    uint32_t& slot = live[rng.next() % kLive];
    slab.free(slot);
    slot = slab.allocate();
    benchmark::DoNotOptimize(slab.get(slot)->state);
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_SlabAllocateFree);

// The same churn with a heap object per connection (what the slab replaces), through the
// allocator the server links (mimalloc).
void BM_NewDeleteConnection(benchmark::State& state) {
  std::vector<Connection*> live;
  for (uint32_t i = 0; i < kLive; ++i) live.push_back(new Connection());
  micro::Rng rng;
  for (auto _ : state) {
    Connection*& slot = live[rng.next() % kLive];
    delete slot;
    slot = new Connection();
    benchmark::DoNotOptimize(slot->state);
  }
  for (Connection* c : live) delete c;
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_NewDeleteConnection);

}  // namespace
}  // namespace ringws
