// Rooms span every reactor. The registry names each room once for the whole process and
// keeps, per room, a bitmask of the reactors that have members in it, so a publish is posted
// only to reactors that have someone to deliver to. Joins and leaves that create or empty a
// reactor's local room take the lock; publishing reads the mask without it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ringws {

class RoomRegistry {
 public:
  static constexpr unsigned kMaxReactors = 64;

  struct Room {
    uint32_t id;
    std::atomic<uint64_t> reactors{0};  ///< bit r: reactor r has local members
  };

  /// Reactor `reactor` now has members in `name`: returns the room, creating it. The pointer
  /// stays valid until the same reactor calls release() for it.
  Room* acquire(std::string_view name, unsigned reactor);
  /// Reactor `reactor` has no members left in `room`; the room is forgotten when no reactor has.
  void release(Room* room, std::string_view name, unsigned reactor);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
  uint32_t next_id_ = 1;  // never reused: a post naming a forgotten room finds nothing
};

}  // namespace ringws
