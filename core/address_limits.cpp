#include "core/address_limits.h"

namespace ringws {

uint32_t AddressLimits::key_of(std::string_view address) {
  // FNV-1a: stable and cheap; avalanche quality is not needed for a count table.
  uint32_t h = 2166136261u;
  for (unsigned char ch : address) {
    h ^= ch;
    h *= 16777619u;
  }
  return h ? h : 1;
}

bool AddressLimits::try_add(uint32_t key) {
  std::lock_guard lock(mu_);
  uint32_t& n = counts_[key];
  if (max_ && n >= max_) return false;
  ++n;
  return true;
}

void AddressLimits::remove(uint32_t key) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

uint32_t AddressLimits::count(uint32_t key) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace ringws
