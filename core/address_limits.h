// Open WebSocket connections per client address, shared by all reactors (--max-per-address).
// Touched once at upgrade and once at close, never per message, so a mutex is fine.
//
// Clients are counted under their address itself, never a hash of it: with an unkeyed hash
// a crafted address could collide with a victim's and use up the victim's count. The key:
// - an IPv4 literal is its 4 bytes; an IPv4-mapped IPv6 literal (::ffff:a.b.c.d) counts as
//   the IPv4 address a.b.c.d;
// - any other IPv6 literal is its /64 prefix: one subscriber or host is typically given a
//   whole /64 and could otherwise open connections from as many addresses as it likes;
// - text that is not an IP literal (an X-Forwarded-For entry can be anything) is its exact text.
// A connection slot has 4 bytes for its count, so it keeps a 32-bit handle naming an entry.
// An entry's key is freed when its count drops to 0 and its handle is reused, so memory is
// bounded by the most connections ever open at once (about 40 bytes per entry slot kept).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ringws {

/// The key `address` is counted under (see above): a tag byte ('4', '6' or 't') then the
/// IPv4 address's 4 bytes, the IPv6 /64 prefix's 8 bytes, or the text. A pure function.
std::string address_key(std::string_view address);

class AddressLimits {
 public:
  /// `max_per_address` 0 means no cap (connections are still counted).
  explicit AddressLimits(uint32_t max_per_address) : max_(max_per_address) {}

  /// Counts one more connection for `address` and stores the handle of its entry in `handle`.
  /// Returns false, counting nothing, when the address already has the limit. An empty
  /// address (the client's address is unknown) is not counted: true, with handle 0.
  bool try_acquire(std::string_view address, uint32_t& handle);
  /// Counts one connection less for the entry `handle` names; 0 does nothing. Call it once
  /// for each successful try_acquire: once an entry's count reaches 0 it is freed, and its
  /// handle may name another address's entry afterwards.
  void release(uint32_t handle);

  /// Connections counted under `address`'s key (for tests and diagnostics).
  uint32_t count(std::string_view address);
  /// Entries in use: keys with at least one connection.
  size_t entries();
  uint32_t limit() const { return max_; }

 private:
  struct Entry {
    std::string key;
    uint32_t count = 0;
  };

  uint32_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, uint32_t> handle_of_;  ///< key -> handle
  std::vector<Entry> entries_;                            ///< handle - 1 -> entry
  std::vector<uint32_t> free_handles_;                    ///< handles of freed entries
};

}  // namespace ringws
