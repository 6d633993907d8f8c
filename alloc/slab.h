// Fixed-size slots addressed by a 32-bit index, each with a generation that changes on
// every reuse, so a late io_uring completion naming a reused slot is recognised and
// dropped (STYLE.md habit 2). The whole capacity is reserved once with mmap: pages are
// committed by the kernel as the high-water mark grows, so an unused slot costs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace ringws {

/// Reserves `bytes` of zero-filled, lazily committed memory; aborts on failure (start-up only).
void* reserve_pages(size_t bytes);
void release_pages(void* p, size_t bytes);

inline constexpr uint32_t kNoSlot = 0xffffffffu;

template <typename T>
class Slab {
  static_assert(std::is_nothrow_destructible_v<T>);

 public:
  explicit Slab(uint32_t capacity)
      : capacity_(capacity),
        cells_(static_cast<Cell*>(reserve_pages(sizeof(Cell) * capacity))) {}
  ~Slab() {
    for (uint32_t i = 0; i < high_water_; ++i)
      if (cells_[i].live) cells_[i].object()->~T();
    release_pages(cells_, sizeof(Cell) * capacity_);
  }
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;

  /// Constructs a T in a free slot and returns its index, or kNoSlot when full.
  template <typename... Args>
  uint32_t allocate(Args&&... args) {
    uint32_t index;
    if (free_head_ != kNoSlot) {
      index = free_head_;
      free_head_ = cells_[index].next_free;
    } else if (high_water_ < capacity_) {
      index = high_water_++;
    } else {
      return kNoSlot;
    }
    emplace(index, std::forward<Args>(args)...);
    return index;
  }

  /// Destroys the object; the slot goes on the free list for allocate().
  void free(uint32_t index) {
    Cell& c = cells_[index];
    c.object()->~T();
    c.live = false;
    ++c.generation;
    --live_count_;
    c.next_free = free_head_;
    free_head_ = index;
  }

  T* get(uint32_t index) { return index < high_water_ && cells_[index].live ? cells_[index].object() : nullptr; }
  /// The object only if the slot still holds the generation the caller saw.
  T* get(uint32_t index, uint16_t generation) {
    T* p = get(index);
    return p && cells_[index].generation == generation ? p : nullptr;
  }
  uint16_t generation(uint32_t index) const { return cells_[index].generation; }
  uint32_t live_count() const { return live_count_; }
  uint32_t high_water() const { return high_water_; }
  uint32_t capacity() const { return capacity_; }

 private:
  struct Cell {
    alignas(T) unsigned char storage[sizeof(T)];
    uint32_t next_free;
    uint16_t generation;
    bool live;
    T* object() { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  template <typename... Args>
  T* emplace(uint32_t index, Args&&... args) {
    Cell& c = cells_[index];
    T* p = new (c.storage) T(std::forward<Args>(args)...);
    c.live = true;
    ++live_count_;
    return p;
  }

  uint32_t capacity_;
  Cell* cells_;
  uint32_t high_water_ = 0;
  uint32_t free_head_ = kNoSlot;
  uint32_t live_count_ = 0;
};

}  // namespace ringws
