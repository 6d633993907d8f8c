#include "chat/room_registry.h"

namespace ringws {

RoomRegistry::Room* RoomRegistry::acquire(std::string_view name, uint64_t bit) {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end()) {
    auto room = std::make_unique<Room>();
    room->id = next_id_;
    next_id_ = next_id_ + 1 >= (1u << 29) ? 1 : next_id_ + 1;  // ids tag posts; bits 29 and 30 mark the app's own kinds
    it = rooms_.emplace(std::string(name), std::move(room)).first;
  }
  it->second->reactors.fetch_or(bit, std::memory_order_release);
  return it->second.get();
}

void RoomRegistry::release(Room* room, std::string_view name, uint64_t bit) {
  std::lock_guard lock(mu_);
  uint64_t left = room->reactors.fetch_and(~bit, std::memory_order_acq_rel) & ~bit;
  if (left == 0) rooms_.erase(std::string(name));
}

RoomRegistry::Room* RoomRegistry::find(std::string_view name, std::unique_lock<std::mutex>& hold) {
  hold = std::unique_lock(mu_);
  auto it = rooms_.find(std::string(name));
  return it == rooms_.end() ? nullptr : it->second.get();
}

size_t RoomRegistry::size() const {
  std::lock_guard lock(mu_);
  return rooms_.size();
}

size_t RoomRegistry::with_members() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, room] : rooms_)
    if (room->reactors.load(std::memory_order_relaxed) & ~kHomeBit) ++n;
  return n;
}

}  // namespace ringws
