// A free list of small fixed-size objects (send-queue nodes) carved from chunks, so queueing
// a frame for a connection never calls the general allocator in steady state. Not
// thread-safe: one pool per reactor.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace ringws {

template <typename T, size_t kChunk = 256>
class ObjectPool {
 public:
  ObjectPool() = default;
  ObjectPool(const ObjectPool&) = delete;
  ObjectPool& operator=(const ObjectPool&) = delete;
  ~ObjectPool() {
    for (void* c : chunks_) std::free(c);
  }

  /// Default-constructs a T; nullptr if out of memory.
  T* acquire() {
    if (!free_) {
      auto* chunk = static_cast<Slot*>(std::malloc(sizeof(Slot) * kChunk));
      if (!chunk) return nullptr;
      chunks_.push_back(chunk);
      for (size_t i = 0; i < kChunk; ++i) {
        chunk[i].next = free_;
        free_ = &chunk[i];
      }
    }
    Slot* s = free_;
    free_ = s->next;
    ++in_use_;
    return new (s->storage) T();
  }

  void release(T* p) {
    p->~T();
    auto* s = reinterpret_cast<Slot*>(p);
    s->next = free_;
    free_ = s;
    --in_use_;
  }

  size_t in_use() const { return in_use_; }

 private:
  union Slot {
    Slot* next;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  Slot* free_ = nullptr;
  size_t in_use_ = 0;
  std::vector<void*> chunks_;
};

}  // namespace ringws
