// The connection table of a load generator (ClientEngine, Attack): slots reused by index,
// each with a generation that changes when it is taken and when it is given back, so an
// epoll event or a deadline harvested for an earlier occupant is recognised as stale. The
// epoll tag of a connection is (generation << 32) | slot.
#pragma once

#include <cstdint>
#include <vector>

namespace ringws::load {

template <class Conn>  // Conn has a `uint32_t gen`
class ConnSlots {
 public:
  /// A free slot (or a new one), its generation moved on.
  uint32_t acquire() {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(conns_.size());
      conns_.emplace_back();
    }
    conns_[slot].gen++;
    return slot;
  }
  /// Gives the slot back; events already harvested for it are now stale.
  void release(uint32_t slot) {
    conns_[slot].gen++;
    free_.push_back(slot);
  }
  bool alive(uint32_t slot, uint32_t gen) const { return slot < conns_.size() && conns_[slot].gen == gen; }

  uint64_t tag(uint32_t slot) const { return (uint64_t(conns_[slot].gen) << 32) | slot; }
  static uint32_t slot_of(uint64_t tag) { return static_cast<uint32_t>(tag); }
  static uint32_t gen_of(uint64_t tag) { return static_cast<uint32_t>(tag >> 32); }

  Conn& operator[](uint32_t slot) { return conns_[slot]; }
  const Conn& operator[](uint32_t slot) const { return conns_[slot]; }
  uint32_t size() const { return static_cast<uint32_t>(conns_.size()); }
  auto begin() { return conns_.begin(); }
  auto end() { return conns_.end(); }

 private:
  std::vector<Conn> conns_;
  std::vector<uint32_t> free_;
};

}  // namespace ringws::load
