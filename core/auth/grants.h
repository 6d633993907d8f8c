// What a token lets its user do in rooms: patterns of rooms to join and to publish to, from
// the token's "rooms" and "publish" claims. Most tokens of a deployment carry one of a few
// such sets, so a reactor interns them: each distinct set is stored once with a count of
// the connections holding it, and a connection keeps a 31-bit handle (DESIGN.md: the
// per-connection budget).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alloc/slab.h"

namespace ringws {

struct Grants {
  std::vector<std::string> rooms;    ///< patterns of rooms the user may join
  std::vector<std::string> publish;  ///< patterns of rooms the user may publish to
  std::string key;                   ///< the canonical text this set is interned under
  uint32_t refs = 0;

  bool may_join(std::string_view room) const;
  bool may_publish(std::string_view room) const;
};

class GrantTable {
 public:
  /// `capacity`: distinct sets at most (one per connection is always enough).
  explicit GrantTable(uint32_t capacity);
  /// The handle (>= 1) of the set (`rooms`, `publish`), counted once more; 0 when full.
  uint32_t acquire(const std::vector<std::string>& rooms, const std::vector<std::string>& publish);
  /// One holder fewer; the set goes with its last.
  void release(uint32_t handle);
  const Grants* get(uint32_t handle) const;
  size_t size() const { return by_key_.size(); }

 private:
  Slab<Grants> sets_;
  std::unordered_map<std::string_view, uint32_t> by_key_;  ///< views the sets' own keys
};

}  // namespace ringws
