// Rooms span every reactor. The registry names each room once for the whole process and
// keeps, per room, a bitmask of the reactors that have members in it, so a message is posted
// only to reactors that have someone to deliver to. Joins and leaves that create or empty a
// reactor's local room take the lock; delivering reads the mask without it.
//
// A room's home reactor (chat/room_home.h: it numbers the room's messages) holds the room
// too, with kHomeBit, for as long as it keeps the room's offset and history: the room's
// id, which tags the frames posted for it, stays the same while it does.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ringws {

class RoomRegistry {
 public:
  static constexpr unsigned kMaxReactors = 63;
  static constexpr uint64_t kHomeBit = uint64_t{1} << 63;
  static constexpr size_t kPresenceSample = 100;  ///< ids a presence answer lists at most

  struct Room {
    uint32_t id;
    std::atomic<uint64_t> reactors{0};  ///< bit r: reactor r has local members; kHomeBit: the home holds it
    std::atomic<int64_t> members{0};    ///< members on every reactor of this process
    std::atomic<int64_t> listeners{0};  ///< members that asked for join and leave events
    std::mutex sample_mu;               ///< guards `sample` (only with --presence-members)
    std::vector<std::string> sample;    ///< up to kPresenceSample member ids
  };

  /// Reactor `reactor` (or the home, with kHomeBit as `bit`) now holds `name`: returns the
  /// room, creating it. The pointer stays valid until the same holder calls release().
  Room* acquire(std::string_view name, uint64_t bit);
  /// The holder `bit` lets go of `room`; the room is forgotten when no holder is left.
  void release(Room* room, std::string_view name, uint64_t bit);
  /// The room if it exists (a presence query for a room this reactor has no member in).
  /// Null when absent; the pointer is only valid while `hold` (the registry lock) is held.
  Room* find(std::string_view name, std::unique_lock<std::mutex>& hold);
  size_t size() const;
  /// Rooms with a member somewhere (rooms the home keeps only for their history are not counted).
  size_t with_members() const;

  static uint64_t reactor_bit(unsigned reactor) { return uint64_t{1} << reactor; }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
  uint32_t next_id_ = 1;  // never reused (wraps below 2^29): a post naming a forgotten room finds nothing
};

}  // namespace ringws
