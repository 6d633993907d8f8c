// The memory governor: what one sample costs (the main thread reads the kernel's counters
// every ~100 ms), and the charge and check the reactors make. The samples read this
// machine's real files, so the figures depend on the kernel and on where the process runs;
// each benchmark's label names the usage source it measured.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "bench/micro/micro.h"
#include "core/memory_governor.h"

namespace ringws {
namespace {

constexpr uint64_t kFlag = 1ull << 40;  // a --memory-limit no cgroup limit undercuts

void sample_loop(benchmark::State& state, MemoryGovernor& g) {
  for (auto _ : state) benchmark::DoNotOptimize(g.sample());
  state.SetLabel(g.usage_source());
  state.SetItemsProcessed(state.iterations());
}

// No cgroup limit and no flag: MemTotal - MemAvailable from /proc/meminfo (the whole file
// is generated for two lines).
void BM_GovernorSamplePhysical(benchmark::State& state) {
  MemoryGovernor g;
  sample_loop(state, g);
}
RINGWS_MICRO(BM_GovernorSamplePhysical);

// --memory-limit alone in a non-root cgroup: the group's counters (on v1, usage_in_bytes
// and kmem.tcp.usage_in_bytes: two preads), as with a cgroup limit.
void BM_GovernorSampleCgroup(benchmark::State& state) {
  GovernorOptions o;
  o.limit_flag = kFlag;
  MemoryGovernor g(o);
  sample_loop(state, g);
}
RINGWS_MICRO(BM_GovernorSampleCgroup);

// --memory-limit outside any cgroup: /proc/self/statm. A fake /proc holding only a link to
// the real statm hides /proc/self/cgroup.
void BM_GovernorSampleRss(benchmark::State& state) {
  std::string root = (std::filesystem::temp_directory_path() / "ringws-bench-XXXXXX").string();
  if (!mkdtemp(root.data())) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  std::filesystem::create_directories(root + "/proc/self");
  std::filesystem::create_symlink("/proc/self/statm", root + "/proc/self/statm");
  GovernorOptions o;
  o.limit_flag = kFlag;
  o.paths.proc_root = root + "/proc";
  {
    MemoryGovernor g(o);
    sample_loop(state, g);
  }
  std::filesystem::remove_all(root);
}
RINGWS_MICRO(BM_GovernorSampleRss);

// What keeping the file open saves: open, read and close /proc/meminfo per sample.
void BM_OpenReadCloseMeminfo(benchmark::State& state) {
  char buf[4096];
  for (auto _ : state) {
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    benchmark::DoNotOptimize(read(fd, buf, sizeof buf));
    close(fd);
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_OpenReadCloseMeminfo);

// A handshake buffer lent and returned: two charges, far from the mark (one thread).
void BM_GovernorChargePair(benchmark::State& state) {
  MemoryGovernor g;
  for (auto _ : state) {
    g.charge(8192);
    g.charge(-8192);
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_GovernorChargePair);

// The reactors' check before taking on work.
void BM_GovernorOverHighWater(benchmark::State& state) {
  MemoryGovernor g;
  for (auto _ : state) benchmark::DoNotOptimize(g.over_high_water());
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_GovernorOverHighWater);

}  // namespace
}  // namespace ringws
