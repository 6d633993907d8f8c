// libFuzzer driver for the framer: feeds the input whole and again cut into pieces, and
// requires the same messages, control frames and outcome both ways, only valid UTF-8 text
// and close codes delivered, no message over the limit, and no ReaderState left lent.
//
// Build and run (from the repository root):
//   clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/ws_framer_fuzz.cpp proto/ws_framer.cpp proto/frame_writer.cpp \
//     proto/utf8.cpp proto/close_code.cpp alloc/shared_frame.cpp \
//     $(pkg-config --cflags --libs simdjson) -lwslay -o build-fuzz/ws_framer_fuzz
//   build-fuzz/ws_framer_fuzz -max_total_time=60 -max_len=20000 \
//     build-fuzz/corpus tests/fuzz/corpus/framer
//
// Input layout: byte 0 picks the message limit, byte 1 seeds the cut points, the rest is
// what a client sent.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "proto/close_code.h"
#include "proto/utf8.h"
#include "proto/ws_framer.h"
#include "tests/unit/proto/client_frames.h"

namespace {

using ringws::test::Bytes;
using ringws::test::Event;
using ringws::test::Outcome;

void check(bool ok) {
  if (!ok) std::abort();
}

Outcome feed(const Bytes& wire, const std::vector<size_t>& cuts, ringws::FramerLimits limits) {
  Outcome out = ringws::test::run(wire, cuts, limits);
  for (const Event& e : out.events) {
    if (e.kind == Event::kMessage) {
      check(e.payload.size() <= limits.max_message);
      if (e.opcode == ringws::Opcode::kText) check(ringws::is_valid_utf8(e.payload));
    } else if (e.kind == Event::kClose) {
      check(e.code == 1005 ? e.payload.empty() : ringws::is_valid_close_code(e.code));
      check(ringws::is_valid_utf8(e.payload));
    } else {
      check(e.payload.size() <= 125);
    }
  }
  if (out.status == ringws::FeedStatus::kFail) {
    check(out.close_code == 1002 || out.close_code == 1007 || out.close_code == 1009);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Limits from 0 to 64 KiB, so 1009 is reachable with small inputs.
  const ringws::FramerLimits limits{uint64_t{data[0]} * 257};
  uint32_t seed = data[1] * 2654435761u + 1;
  const Bytes wire(data + 2, data + size);

  const Outcome whole = feed(wire, {}, limits);

  std::vector<size_t> cuts;
  size_t at = 0;
  while (!wire.empty()) {
    seed = seed * 1103515245u + 12345u;
    at += 1 + (seed >> 16) % (seed & 0x100 ? 8 : 200);
    if (at >= wire.size()) break;
    cuts.push_back(at);
  }
  check(feed(wire, cuts, limits) == whole);

  // Two connections on one pool, fed the same bytes in different pieces in turn: a state
  // that went back to the pool dirty would mix one connection's bytes into the other's.
  ringws::FramerPool pool(limits, 1);
  ringws::test::RecordingSink sinks[2];
  ringws::ReaderState* states[2] = {nullptr, nullptr};
  bool open[2] = {true, true};
  ringws::FeedResult last[2];
  size_t begin[2] = {0, 0};
  size_t next_cut = 0;
  while (open[0] || open[1]) {
    for (int c = 0; c < 2; ++c) {
      if (!open[c]) continue;
      // Connection 0 uses the cuts above; connection 1 takes 3 bytes at a time.
      size_t end = c == 0 ? (next_cut < cuts.size() ? cuts[next_cut++] : wire.size())
                          : std::min(wire.size(), begin[1] + 3);
      last[c] = pool.feed(states[c], {wire.data() + begin[c], end - begin[c]}, sinks[c]);
      begin[c] = end;
      if (last[c].status != ringws::FeedStatus::kOk) check(states[c] == nullptr);
      if (last[c].status != ringws::FeedStatus::kOk || end == wire.size()) open[c] = false;
    }
    check(pool.lent() == size_t{states[0] != nullptr} + size_t{states[1] != nullptr});
  }
  for (int c = 0; c < 2; ++c) {
    check(sinks[c].events == whole.events);
    check(last[c].status == whole.status && last[c].close_code == whole.close_code);
    check((states[c] != nullptr) == whole.left_in_progress);
    pool.release(states[c]);
  }
  check(pool.lent() == 0);
  return 0;
}
