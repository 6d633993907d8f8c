// UTF-8 validation of text messages: simdjson over whole runs, plus our carry across pieces.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <vector>

#include "bench/micro/micro.h"
#include "proto/utf8.h"

namespace ringws {
namespace {

// Args: bytes, text kind (0 ASCII, 1 multi-byte).
void args(benchmark::internal::Benchmark* b) {
  for (int64_t kind : {0, 1})
    for (int64_t size : {32, 1024, 64 * 1024, 1024 * 1024}) b->Args({size, kind});
  b->ArgNames({"bytes", "multibyte"});
}

std::vector<uint8_t> input(const benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  return state.range(1) ? micro::multibyte_text(size) : micro::ascii_text(size);
}

// A complete text message validated at once (a single-frame message that arrived whole).
void BM_IsValidUtf8(benchmark::State& state) {
  const std::vector<uint8_t> text = input(state);
  for (auto _ : state) {
    bool ok = is_valid_utf8(text);
    benchmark::DoNotOptimize(ok);
  }
  if (!is_valid_utf8(text)) state.SkipWithError("input is not valid UTF-8");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
RINGWS_MICRO(BM_IsValidUtf8)->Apply(args);

// The same message through Utf8Stream in one final piece: the framer's path for a whole frame.
void BM_Utf8StreamWhole(benchmark::State& state) {
  const std::vector<uint8_t> text = input(state);
  Utf8Stream stream;
  for (auto _ : state) {
    stream.reset();
    bool ok = stream.feed(text, /*final=*/true);
    benchmark::DoNotOptimize(ok);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
RINGWS_MICRO(BM_Utf8StreamWhole)->Apply(args);

// A message arriving in 1 KiB receives: each piece validated as it lands, code points cut
// across pieces carried over (multi-byte text is cut mid code point).
void BM_Utf8StreamPieces(benchmark::State& state) {
  const std::vector<uint8_t> text = input(state);
  constexpr size_t kPiece = 1024;
  Utf8Stream stream;
  bool all_ok = true;
  for (auto _ : state) {
    stream.reset();
    bool ok = true;
    for (size_t at = 0; at < text.size(); at += kPiece) {
      size_t n = std::min(kPiece, text.size() - at);
      ok &= stream.feed({text.data() + at, n}, at + n == text.size());
    }
    benchmark::DoNotOptimize(ok);
    all_ok &= ok;
  }
  if (!all_ok) state.SkipWithError("a piece was refused");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
RINGWS_MICRO(BM_Utf8StreamPieces)->Apply(args);

}  // namespace
}  // namespace ringws
