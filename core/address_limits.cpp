#include "core/address_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace ringws {

std::string address_key(std::string_view address) {
  // inet_pton wants a C string; no IP literal is longer than INET6_ADDRSTRLEN - 1 characters.
  char text[INET6_ADDRSTRLEN];
  if (address.size() < sizeof text) {
    std::memcpy(text, address.data(), address.size());
    text[address.size()] = '\0';
    in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
      return std::string("4") + std::string(reinterpret_cast<const char*>(&v4.s_addr), 4);
    }
    in6_addr v6;
    if (inet_pton(AF_INET6, text, &v6) == 1) {
      const char* bytes = reinterpret_cast<const char*>(v6.s6_addr);
      // A dual-stack listener (or proxy) names IPv4 clients ::ffff:a.b.c.d.
      if (IN6_IS_ADDR_V4MAPPED(&v6)) return std::string("4") + std::string(bytes + 12, 4);
      return std::string("6") + std::string(bytes, 8);
    }
  }
  return std::string("t") + std::string(address);
}

bool AddressLimits::try_acquire(std::string_view address, uint32_t& handle) {
  handle = 0;
  if (address.empty()) return true;
  std::string key = address_key(address);
  std::lock_guard lock(mu_);
  auto it = handle_of_.find(key);
  if (it != handle_of_.end()) {
    Entry& entry = entries_[it->second - 1];
    if (max_ && entry.count >= max_) return false;
    ++entry.count;
    handle = it->second;
    return true;
  }
  uint32_t h;
  if (!free_handles_.empty()) {
    h = free_handles_.back();
    free_handles_.pop_back();
  } else {
    entries_.emplace_back();
    h = static_cast<uint32_t>(entries_.size());
  }
  entries_[h - 1].key = key;
  entries_[h - 1].count = 1;
  handle_of_.emplace(std::move(key), h);
  handle = h;
  return true;
}

void AddressLimits::release(uint32_t handle) {
  if (handle == 0) return;
  std::lock_guard lock(mu_);
  if (handle > entries_.size()) return;
  Entry& entry = entries_[handle - 1];
  if (entry.count == 0) return;  // already free: a release without its acquire
  if (--entry.count > 0) return;
  handle_of_.erase(entry.key);
  std::string().swap(entry.key);  // a long text key gives its memory back too
  free_handles_.push_back(handle);
}

uint32_t AddressLimits::count(std::string_view address) {
  std::string key = address_key(address);
  std::lock_guard lock(mu_);
  auto it = handle_of_.find(key);
  return it == handle_of_.end() ? 0 : entries_[it->second - 1].count;
}

size_t AddressLimits::entries() {
  std::lock_guard lock(mu_);
  return handle_of_.size();
}

}  // namespace ringws
