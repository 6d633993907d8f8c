#include "core/memory_governor.h"

#include <algorithm>

namespace ringws {

const char* shed_name(ShedWhat what) {
  switch (what) {
    case ShedWhat::kConnection:
      return "connection";
    case ShedWhat::kUpgrade:
      return "upgrade";
    case ShedWhat::kMessage:
      return "message";
    case ShedWhat::kCount:
      break;
  }
  return "unknown";
}

MemoryGovernor::MemoryGovernor(GovernorOptions options) : meter_(options.limit_flag, options.paths) {
  unsigned high = std::clamp(options.high_water_percent, 1u, 100u);
  unsigned hysteresis = std::min(options.hysteresis_percent, high - 1);
  if (uint64_t limit = meter_.limit()) {
    // Divide first: a limit near 2^64 (--memory-limit 16000000Ti) must not overflow.
    high_ = limit / 100 * high + limit % 100 * high / 100;
    low_ = high_ - (limit / 100 * hysteresis + limit % 100 * hysteresis / 100);
  }
  sample();
}

bool MemoryGovernor::sample() {
  // Charges made before this point are in the measurement (the memory they stand for is
  // allocated by now); those that race with the read stay counted, erring on the safe side.
  int64_t before = charged_.load();
  uint64_t bytes = 0;
  if (!meter_.read(bytes)) return false;
  measured_.store(bytes);
  charged_.fetch_sub(before);
  update_flag();
  return true;
}

uint64_t MemoryGovernor::used() const {
  int64_t charged = charged_.load(std::memory_order_relaxed);
  return measured_.load(std::memory_order_relaxed) + static_cast<uint64_t>(std::max<int64_t>(charged, 0));
}

void MemoryGovernor::charge(int64_t bytes) {
  charged_.fetch_add(bytes);
  update_flag();
}

void MemoryGovernor::update_flag() {
  // Several threads may decide at once from different sums. Each re-reads the sum after
  // storing its decision and decides again if it moved, so the decision that stands was
  // made from the latest sum (sequentially consistent: the store to over_ and the re-read of
  // charged_ must not be reordered). The flag is stored only when it changes.
  for (;;) {
    int64_t charged = charged_.load();
    uint64_t used = measured_.load() + static_cast<uint64_t>(std::max<int64_t>(charged, 0));
    bool over = over_.load();
    bool want = used >= high_ ? true : used < low_ ? false : over;
    if (want != over) over_.store(want);
    if (charged_.load() == charged) return;
  }
}

}  // namespace ringws
