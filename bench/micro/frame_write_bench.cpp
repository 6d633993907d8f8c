// Frame serialization: the server's outgoing frames, built once and shared by reference.
#include <benchmark/benchmark.h>

#include <vector>

#include "alloc/shared_frame.h"
#include "bench/micro/micro.h"
#include "proto/ws_framer.h"

namespace ringws {
namespace {

void sizes(benchmark::internal::Benchmark* b) {
  b->RangeMultiplier(32)->Range(32, 64 * 1024);  // 32, 1 Ki, 32 Ki, 64 Ki
  b->ArgName("bytes");
}

// The header written in front of a payload the server already holds (a streamed or
// fragmented send): 2, 4 or 10 bytes depending on the length.
void BM_WriteFrameHeader(benchmark::State& state) {
  uint8_t out[16];
  uint64_t length = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(length);  // a fresh length each time, as far as the compiler knows
    size_t n = write_frame_header(out, Opcode::kText, length);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();  // the header bytes count as written
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_WriteFrameHeader)->Apply(sizes);

// An echo or broadcast reply: one allocation plus a copy of the payload, then the last
// reference dropped (as the send completion does).
void BM_MakeFrame(benchmark::State& state) {
  const std::vector<uint8_t> payload = micro::ascii_text(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    SharedFrame* f = make_frame(Opcode::kText, payload);
    benchmark::DoNotOptimize(f);
    benchmark::DoNotOptimize(f->data()[0]);
    f->release();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_MakeFrame)->Apply(sizes);

// The close frame the server sends on shutdown or protocol error, with a short reason.
void BM_MakeCloseFrame(benchmark::State& state) {
  for (auto _ : state) {
    SharedFrame* f = make_close_frame(1001, "server going away");
    benchmark::DoNotOptimize(f);
    f->release();
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_MakeCloseFrame);

}  // namespace
}  // namespace ringws
