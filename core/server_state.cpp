#include "core/server_state.h"

#include <sys/random.h>

#include <cstdio>
#include <random>

namespace ringws {

ServerState::ServerState(const Config& c, MemoryGovernor& g)
    : config(c), governor(g), max_connections(c.max_connections), addresses(c.max_per_address) {
  uint64_t bits = 0;
  if (getrandom(&bits, sizeof bits, 0) != sizeof bits) bits = std::random_device{}() * 0x9e3779b97f4a7c15ull;
  char text[16];
  std::snprintf(text, sizeof text, "%012llx", static_cast<unsigned long long>(bits & 0xffffffffffffull));
  instance = text;
  std::string_view list = c.allowed_origins;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) allowed_origins.emplace_back(item);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
}

bool ServerState::origin_allowed(std::string_view origin) const {
  if (allowed_origins.empty()) return true;
  // Origins are compared whole (scheme://host[:port]), as browsers send them. A request
  // without Origin is not from a browser page, which is what the list guards against.
  for (const auto& allowed : allowed_origins)
    if (allowed == origin) return true;
  return false;
}

}  // namespace ringws
