#include "chat/room_registry.h"

namespace ringws {

RoomRegistry::Room* RoomRegistry::acquire(std::string_view name, unsigned reactor) {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end()) {
    auto room = std::make_unique<Room>();
    room->id = next_id_++;
    it = rooms_.emplace(std::string(name), std::move(room)).first;
  }
  it->second->reactors.fetch_or(uint64_t{1} << reactor, std::memory_order_release);
  return it->second.get();
}

void RoomRegistry::release(Room* room, std::string_view name, unsigned reactor) {
  std::lock_guard lock(mu_);
  uint64_t left = room->reactors.fetch_and(~(uint64_t{1} << reactor), std::memory_order_acq_rel) & ~(uint64_t{1} << reactor);
  if (left == 0) rooms_.erase(std::string(name));
}

size_t RoomRegistry::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

}  // namespace ringws
