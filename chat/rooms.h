// One reactor's share of the rooms: its members of each room, and each connection's list of
// memberships (linked from the connection's app word). Only this reactor's thread touches it.
//
// Memory: a membership is a 20-byte slab record (plus 8 bytes of slab bookkeeping) and 4
// bytes in its room's member vector; a room is one record per reactor that has members,
// plus one registry entry per process.
//
// A membership keeps its connection's whole id, so even a membership that outlived its
// connection could never deliver to the slot's next occupant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "alloc/slab.h"
#include "chat/room_registry.h"
#include "core/engine/connection.h"

namespace ringws {

class Engine;
class SharedFrame;

class Rooms {
 public:
  /// Membership flags.
  enum : uint8_t {
    kPending = 1 << 0,  ///< joined, but the room's home has not answered yet: no message until it does
    kEvents = 1 << 1,   ///< wants member_joined / member_left
  };
  struct LocalRoom {
    std::string name;
    RoomRegistry::Room* global = nullptr;
    std::vector<uint32_t> members;  ///< membership indices
  };
  struct Membership {
    uint32_t conn_index;   ///< the member, index and generation (a ConnId, packed)
    uint16_t conn_generation;
    uint8_t flags;
    uint8_t spare;
    uint32_t room;  ///< LocalRoom index
    uint32_t pos;   ///< position in the room's member vector
    uint32_t next;  ///< the connection's next membership + 1; 0 ends the list
    ConnId conn() const { return {conn_index, conn_generation}; }
  };
  static_assert(sizeof(Membership) == 20, "a membership is part of the per-connection budget");

  Rooms(RoomRegistry& registry, unsigned reactor, bool keep_sample);

  /// The membership of the list starting at `head` (an app word) in `room`, or kNoSlot;
  /// counts the list's memberships into `count`.
  uint32_t find(uint32_t head, std::string_view room, uint32_t* count = nullptr);
  /// Adds `conn` (whose list starts at `head`) to `room`: returns the membership, or kNoSlot
  /// when a table is full. The new list head is membership + 1.
  uint32_t add(ConnId conn, uint32_t head, std::string_view room, uint8_t flags, std::string_view conn_text);
  /// Unlinks membership `m` from the list starting at `head`; returns the new head.
  uint32_t unlink(uint32_t head, uint32_t m);
  /// Takes membership `m` out of its room and frees it. When the room empties here, it is
  /// forgotten and its name returned through `emptied` (true).
  bool remove(uint32_t m, std::string& emptied, std::string_view conn_text);

  Membership* membership(uint32_t m) { return memberships_.get(m); }
  LocalRoom* room(uint32_t index) { return rooms_.get(index); }
  LocalRoom* room_by_id(uint32_t id);
  LocalRoom* room_by_name(std::string_view name);
  /// The names of every local room.
  std::vector<std::string> names() const;

  /// Queues `frame` (owning one reference) on every member of `room` that is not pending
  /// (`events_only`: on those that asked for events). Returns the deliveries.
  uint64_t deliver(Engine& engine, LocalRoom& room, SharedFrame* frame, bool events_only);

 private:
  RoomRegistry& registry_;
  unsigned reactor_;
  bool keep_sample_;
  Slab<LocalRoom> rooms_;
  Slab<Membership> memberships_;
  std::unordered_map<std::string_view, uint32_t> by_name_;
  std::unordered_map<uint32_t, uint32_t> by_id_;
  std::vector<ConnId> scratch_;
};

}  // namespace ringws
