// Frame parsing: FramerPool::feed on masked client frames, as a reactor feeds each receive.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "bench/micro/micro.h"
#include "proto/ws_framer.h"
#include "tests/unit/proto/client_frames.h"

namespace ringws {
namespace {

/// Counts what it is told and keeps the last payload byte, so the decode cannot be elided.
class CountingSink final : public FrameSink {
 public:
  void on_message(uint64_t, Opcode, std::span<const uint8_t> payload) override {
    ++messages;
    bytes += payload.size();
    if (!payload.empty()) last = payload.back();
  }
  void on_ping(uint64_t, std::span<const uint8_t>) override { ++controls; }
  void on_pong(uint64_t, std::span<const uint8_t>) override { ++controls; }
  void on_close(uint64_t, uint16_t, std::string_view) override { ++controls; }
  uint64_t messages = 0, bytes = 0, controls = 0;
  uint8_t last = 0;
};

// Args: payload bytes, opcode (1 text, 2 binary), piece bytes (0: the whole frame at once).
void args(benchmark::internal::Benchmark* b) {
  for (int64_t opcode : {1, 2})
    for (int64_t size : {32, 1024, 64 * 1024})
      for (int64_t piece : {0, 1024}) b->Args({size, opcode, piece});
  b->ArgNames({"bytes", "op", "piece"});
}

// One client message per iteration, masked as browsers send it, arriving in one receive
// (piece 0) or in 1 KiB receives; text frames include the UTF-8 check.
void BM_FramerFeed(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const uint8_t opcode = static_cast<uint8_t>(state.range(1));
  const size_t piece = static_cast<size_t>(state.range(2));
  test::ClientFrame f = test::frame(opcode, micro::ascii_text(size));
  const test::Bytes wire = test::encode(f);
  const size_t step = piece == 0 ? wire.size() : piece;

  FramerPool pool;
  CountingSink sink;
  ReaderState* reader = nullptr;
  for (auto _ : state) {
    for (size_t at = 0; at < wire.size(); at += step) {
      size_t n = std::min(step, wire.size() - at);
      FeedResult r = pool.feed(reader, {wire.data() + at, n}, sink);
      benchmark::DoNotOptimize(r);
    }
  }
  if (sink.messages != static_cast<uint64_t>(state.iterations()) || reader != nullptr)
    state.SkipWithError("the framer did not deliver one message per iteration");
  benchmark::DoNotOptimize(sink.last);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_FramerFeed)->Apply(args);

// Many small messages in one receive: a chatty client's batch (64 text frames of 32 B).
void BM_FramerFeedBatch(benchmark::State& state) {
  test::Bytes wire;
  const test::Bytes one = test::encode(test::frame(1, micro::ascii_text(32)));
  for (int i = 0; i < 64; ++i) wire.insert(wire.end(), one.begin(), one.end());
  FramerPool pool;
  CountingSink sink;
  ReaderState* reader = nullptr;
  for (auto _ : state) {
    FeedResult r = pool.feed(reader, wire, sink);
    benchmark::DoNotOptimize(r);
  }
  if (sink.messages != 64 * static_cast<uint64_t>(state.iterations()))
    state.SkipWithError("the framer did not deliver every message");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
  state.SetItemsProcessed(64 * state.iterations());
}
RINGWS_MICRO(BM_FramerFeedBatch);

}  // namespace
}  // namespace ringws
