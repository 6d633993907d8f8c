// Connection-state allocation: the reactor's Slab<Connection> against new/delete of the same
// struct. 10,000 connections live; each iteration one closes and another takes its place.
#include <benchmark/benchmark.h>

#include <vector>

#include "alloc/slab.h"
#include "bench/micro/micro.h"
#include "core/connection.h"

namespace ringws {
namespace {

constexpr uint32_t kLive = 10000;
constexpr uint32_t kCapacity = 1u << 17;

// allocate()/free(recycle): index-addressed churn through the free list (SendNode's use).
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

// emplace_at()/free(no recycle): the kernel picks the direct-descriptor index on accept and
// the reactor constructs the connection there; on close the slot is left for the kernel.
void BM_SlabEmplaceAtFree(benchmark::State& state) {
  Slab<Connection> slab(kCapacity);
  for (uint32_t i = 0; i < kLive; ++i) slab.emplace_at(i);
  micro::Rng rng;
  for (auto _ : state) {
    uint32_t index = rng.next() % kLive;
    slab.free(index, /*recycle=*/false);
    Connection* c = slab.emplace_at(index);
    benchmark::DoNotOptimize(c->state);
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_SlabEmplaceAtFree);

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
