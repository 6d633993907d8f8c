#include "core/auth/grants.h"

#include "proto/jwt.h"

namespace ringws {

bool Grants::may_join(std::string_view room) const { return any_pattern_matches(rooms, room); }
bool Grants::may_publish(std::string_view room) const { return any_pattern_matches(publish, room); }

GrantTable::GrantTable(uint32_t capacity) : sets_(capacity) {}

uint32_t GrantTable::acquire(const std::vector<std::string>& rooms, const std::vector<std::string>& publish) {
  // Patterns are printable ASCII (valid_pattern), so '\n' and '\0' cannot occur inside one.
  std::string key;
  for (const std::string& p : rooms) key.append(p).push_back('\n');
  key.push_back('\0');
  for (const std::string& p : publish) key.append(p).push_back('\n');
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    ++sets_.get(it->second)->refs;
    return it->second + 1;
  }
  uint32_t index = sets_.allocate();
  if (index == kNoSlot) return 0;
  Grants& g = *sets_.get(index);
  g.rooms = rooms;
  g.publish = publish;
  g.key = std::move(key);
  g.refs = 1;
  by_key_.emplace(g.key, index);
  return index + 1;
}

void GrantTable::release(uint32_t handle) {
  if (!handle) return;
  Grants* g = sets_.get(handle - 1);
  if (!g || --g->refs) return;
  by_key_.erase(g->key);
  sets_.free(handle - 1);
}

const Grants* GrantTable::get(uint32_t handle) const {
  return handle ? const_cast<Slab<Grants>&>(sets_).get(handle - 1) : nullptr;
}

}  // namespace ringws
