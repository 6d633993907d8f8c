#include "core/rate_limit.h"

#include <algorithm>

namespace ringws {

namespace {
constexpr uint64_t kUnit = 1000000000ull;         // billionths of a token per token
constexpr uint64_t kMaxElapsedNs = 3600 * kUnit;  // an hour refills any bucket; keeps products in 64 bits
}  // namespace

RateLimiter::RateLimiter(uint32_t max_records) : records_(std::min(std::max(max_records, 1u), kMaxRecords)) {}

void RateLimiter::define(unsigned klass, RateSpec spec) {
  spec.per_second = std::min(spec.per_second, kMaxRate);
  spec.burst = std::min(spec.burst, kMaxRate);
  if (spec.limited() && spec.burst == 0) spec.burst = 1;
  specs_[klass] = spec;
}

bool RateLimiter::refill(Record& r, uint64_t now_ns) const {
  uint64_t elapsed = now_ns > r.refilled_ns ? std::min(now_ns - r.refilled_ns, kMaxElapsedNs) : 0;
  r.refilled_ns = std::max(r.refilled_ns, now_ns);
  bool full = true;
  for (unsigned k = 0; k < kClasses; ++k) {
    const RateSpec& s = specs_[k];
    if (!s.limited()) continue;
    uint64_t cap = uint64_t(s.burst) * kUnit;
    // Whole seconds and the rest apart: 3,600 s x 1e6/s x 1e9 and 1e9 ns x 1e6/s fit 64 bits.
    uint64_t add = elapsed / kUnit * s.per_second * kUnit + elapsed % kUnit * s.per_second;
    r.tokens[k] = std::min(cap, r.tokens[k] + std::min(add, cap));
    full = full && r.tokens[k] == cap;
  }
  return full;
}

RateLimiter::Verdict RateLimiter::take(uint32_t& handle, uint32_t owner, unsigned klass, uint64_t now_ns) {
  const RateSpec& s = specs_[klass];
  if (!s.limited()) return {};
  Record* r = handle ? records_.get(handle - 1) : nullptr;
  if (!r) {
    uint32_t index = records_.allocate();
    if (index == kNoSlot) return {};
    r = records_.get(index);
    r->refilled_ns = now_ns;
    for (unsigned k = 0; k < kClasses; ++k) r->tokens[k] = uint64_t(specs_[k].burst) * kUnit;
    r->retry_at_ns = 0;
    r->owner = owner;
    r->ignored = 0;
    r->retry_class = 0;
    handle = index + 1;
  } else {
    refill(*r, now_ns);
  }
  if (r->tokens[klass] >= kUnit) {
    r->tokens[klass] -= kUnit;
    return {true, 0, r->ignored};
  }
  uint64_t missing = kUnit - r->tokens[klass];
  // A rate of R tokens a second adds R billionths of a token per ns.
  uint64_t wait_ns = (missing + s.per_second - 1) / s.per_second;
  uint64_t ms = std::max<uint64_t>((wait_ns + 999999) / 1000000, 1);
  // Asked again before the time the last refusal of this class gave: that one was ignored.
  if (r->retry_class == klass && now_ns < r->retry_at_ns && r->ignored < UINT16_MAX) ++r->ignored;
  r->retry_class = static_cast<uint8_t>(klass);
  r->retry_at_ns = now_ns + ms * 1000000;
  return {false, static_cast<uint32_t>(ms), r->ignored};
}

void RateLimiter::release(uint32_t& handle) {
  if (handle && records_.get(handle - 1)) records_.free(handle - 1);
  handle = 0;
}

}  // namespace ringws
