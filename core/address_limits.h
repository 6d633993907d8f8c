// Open WebSocket connections per client address, shared by all reactors (--max-per-address).
// Touched once at upgrade and once at close, never per message, so a mutex is fine.
// Addresses are keyed by a 32-bit hash, which is what a connection slot can afford to keep:
// two addresses that collide share one count (the limit can only err on the strict side).
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace ringws {

class AddressLimits {
 public:
  explicit AddressLimits(uint32_t max_per_address) : max_(max_per_address) {}

  /// Nonzero key for `address` (0 means "not counted").
  static uint32_t key_of(std::string_view address);

  /// Counts one more connection for `key`; false (and nothing counted) if at the limit.
  bool try_add(uint32_t key);
  void remove(uint32_t key);
  uint32_t count(uint32_t key);
  // Interim names for the engine (the keyed-by-address version replaces these).
  bool try_acquire(std::string_view address, uint32_t& handle) {
    handle = key_of(address);
    return try_add(handle);
  }
  void release(uint32_t handle) { remove(handle); }
  uint32_t limit() const { return max_; }

 private:
  uint32_t max_;
  std::mutex mu_;
  std::unordered_map<uint32_t, uint32_t> counts_;
};

}  // namespace ringws
