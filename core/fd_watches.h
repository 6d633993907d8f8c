// The descriptors a reactor watches for its app (FdWatcher), as both backends keep them: a
// few entries (a Redis connection or two), each with a generation so that an event that
// was already on its way when a watch changed or ended is recognised and dropped.
#pragma once

#include <cstdint>
#include <vector>

#include "core/backend.h"

namespace ringws {

class FdWatches {
 public:
  struct Watch {
    int fd = -1;  ///< -1: a free entry
    FdWatcher* watcher = nullptr;
    bool read = false;
    bool write = false;
    bool armed = false;  ///< io_uring: a poll is in flight for this generation
    uint16_t generation = 0;
  };

  /// The entry watching `fd`, or -1.
  int find(int fd) const {
    for (size_t i = 0; i < watches_.size(); ++i)
      if (watches_[i].fd == fd) return static_cast<int>(i);
    return -1;
  }
  /// The entry watching `fd`, made if there is none.
  uint32_t find_or_add(int fd) {
    if (int i = find(fd); i >= 0) return static_cast<uint32_t>(i);
    for (size_t i = 0; i < watches_.size(); ++i)
      if (watches_[i].fd < 0) {
        watches_[i].fd = fd;
        return static_cast<uint32_t>(i);
      }
    watches_.push_back({});
    watches_.back().fd = fd;
    return static_cast<uint32_t>(watches_.size() - 1);
  }
  Watch& at(uint32_t index) { return watches_[index]; }
  /// The entry `index` if it is still the generation an event was armed with.
  Watch* resolve(uint32_t index, uint16_t generation) {
    if (index >= watches_.size() || watches_[index].fd < 0 || watches_[index].generation != generation) return nullptr;
    return &watches_[index];
  }
  void remove(uint32_t index) {
    uint16_t next = static_cast<uint16_t>(watches_[index].generation + 1);
    watches_[index] = {};
    watches_[index].generation = next;
  }

 private:
  std::vector<Watch> watches_;
};

}  // namespace ringws
