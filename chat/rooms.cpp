#include "chat/rooms.h"

#include <algorithm>

#include "core/engine/engine.h"

namespace ringws {

namespace {
constexpr uint32_t kMaxRoomsPerReactor = 1u << 20;
constexpr uint32_t kMaxMemberships = 1u << 23;
}  // namespace

Rooms::Rooms(RoomRegistry& registry, unsigned reactor, bool keep_sample)
    : registry_(registry),
      reactor_(reactor),
      keep_sample_(keep_sample),
      rooms_(kMaxRoomsPerReactor),
      memberships_(kMaxMemberships) {}

uint32_t Rooms::find(uint32_t head, std::string_view room, uint32_t* count) {
  uint32_t n = 0, found = kNoSlot;
  for (uint32_t m = head; m; m = memberships_.get(m - 1)->next, ++n)
    if (found == kNoSlot && rooms_.get(memberships_.get(m - 1)->room)->name == room) found = m - 1;
  if (count) *count = n;
  return found;
}

uint32_t Rooms::add(ConnId conn, uint32_t head, std::string_view room, uint8_t flags, std::string_view conn_text) {
  // The membership first: a room must never exist without a member.
  uint32_t m = memberships_.allocate();
  if (m == kNoSlot) return kNoSlot;
  uint32_t room_index;
  if (auto it = by_name_.find(room); it != by_name_.end()) {
    room_index = it->second;
  } else {
    room_index = rooms_.allocate();
    if (room_index == kNoSlot) {
      memberships_.free(m);
      return kNoSlot;
    }
    LocalRoom& r = *rooms_.get(room_index);
    r.name.assign(room);
    r.global = registry_.acquire(room, RoomRegistry::reactor_bit(reactor_));
    by_name_.emplace(r.name, room_index);  // the key views the slab's stable string
    by_id_.emplace(r.global->id, room_index);
  }
  LocalRoom& r = *rooms_.get(room_index);
  *memberships_.get(m) = {conn.index, conn.generation, flags, 0, room_index, static_cast<uint32_t>(r.members.size()),
                          head};
  r.members.push_back(m);
  r.global->members.fetch_add(1, std::memory_order_relaxed);
  if (flags & kEvents) r.global->listeners.fetch_add(1, std::memory_order_relaxed);
  if (keep_sample_) {
    std::lock_guard lock(r.global->sample_mu);
    if (r.global->sample.size() < RoomRegistry::kPresenceSample) r.global->sample.emplace_back(conn_text);
  }
  return m;
}

uint32_t Rooms::unlink(uint32_t head, uint32_t m) {
  if (head == m + 1) return memberships_.get(m)->next;
  uint32_t prev = head - 1;
  while (memberships_.get(prev)->next != m + 1) prev = memberships_.get(prev)->next - 1;
  memberships_.get(prev)->next = memberships_.get(m)->next;
  return head;
}

bool Rooms::remove(uint32_t m, std::string& emptied, std::string_view conn_text) {
  Membership record = *memberships_.get(m);
  LocalRoom& r = *rooms_.get(record.room);
  uint32_t last = r.members.back();
  r.members[record.pos] = last;
  memberships_.get(last)->pos = record.pos;
  r.members.pop_back();
  memberships_.free(m);
  r.global->members.fetch_sub(1, std::memory_order_relaxed);
  if (record.flags & kEvents) r.global->listeners.fetch_sub(1, std::memory_order_relaxed);
  if (keep_sample_) {
    std::lock_guard lock(r.global->sample_mu);
    auto& sample = r.global->sample;
    if (auto it = std::find(sample.begin(), sample.end(), conn_text); it != sample.end()) {
      *it = std::move(sample.back());
      sample.pop_back();
    }
  }
  if (!r.members.empty()) return false;
  emptied = r.name;
  by_name_.erase(r.name);
  by_id_.erase(r.global->id);
  registry_.release(r.global, r.name, RoomRegistry::reactor_bit(reactor_));
  rooms_.free(record.room);
  return true;
}

Rooms::LocalRoom* Rooms::room_by_id(uint32_t id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : rooms_.get(it->second);
}

Rooms::LocalRoom* Rooms::room_by_name(std::string_view name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : rooms_.get(it->second);
}

std::vector<std::string> Rooms::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, index] : by_name_) out.emplace_back(name);
  return out;
}

uint64_t Rooms::deliver(Engine& engine, LocalRoom& room, SharedFrame* frame, bool events_only) {
  // Sending can close a slow consumer, whose on_close edits the member vector: walk a copy.
  scratch_.clear();
  for (uint32_t m : room.members) {
    const Membership& ms = *memberships_.get(m);
    if (ms.flags & kPending) continue;
    if (events_only && !(ms.flags & kEvents)) continue;
    scratch_.push_back(ms.conn());
  }
  if (!scratch_.empty()) frame->retain(static_cast<uint32_t>(scratch_.size()));
  engine.count_fanout(scratch_.size());
  for (ConnId conn : scratch_) engine.send(conn, frame);
  frame->release();
  return scratch_.size();
}

}  // namespace ringws
