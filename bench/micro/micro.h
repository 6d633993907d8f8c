// Shared by the microbenchmarks: registration that honours a fixed iteration count (for
// callgrind), and input generators.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace ringws::micro {

/// With RINGWS_MICRO_ITERATIONS=N in the environment every benchmark runs exactly N
/// iterations once. scripts/micro-bench.sh --callgrind runs each benchmark at two counts and
/// divides the difference in instructions by the difference in iterations, which cancels
/// set-up and start-up. Google Benchmark 1.7 (Debian 12) has no "--benchmark_min_time=Nx".
inline void fixed_iterations(benchmark::internal::Benchmark* b) {
  if (const char* n = std::getenv("RINGWS_MICRO_ITERATIONS")) {
    long iterations = std::strtol(n, nullptr, 10);
    if (iterations > 0) b->Iterations(iterations);
  }
}

/// Deterministic pseudo-random numbers (xorshift32), so every run sees the same inputs.
struct Rng {
  uint32_t s = 2463534242u;
  uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

/// `size` bytes of printable ASCII, JSON-ish.
inline std::vector<uint8_t> ascii_text(size_t size) {
  static constexpr char kSample[] = "{\"room\":\"lobby\",\"from\":\"alice\",\"text\":\"hello, world 42\"} ";
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(kSample[i % (sizeof(kSample) - 1)]);
  return out;
}

/// About `size` bytes (never more) of valid UTF-8 mixing 1-, 2-, 3- and 4-byte code points,
/// ending on a code point boundary.
inline std::vector<uint8_t> multibyte_text(size_t size) {
  static const std::string kSample = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 ";
  std::vector<uint8_t> out;
  out.reserve(size);
  while (out.size() + kSample.size() <= size) out.insert(out.end(), kSample.begin(), kSample.end());
  while (out.size() < size) out.push_back('.');  // ASCII fill to the exact size
  return out;
}

}  // namespace ringws::micro

/// BENCHMARK() plus the fixed-iteration hook.
#define RINGWS_MICRO(fn) BENCHMARK(fn)->Apply(::ringws::micro::fixed_iterations)
