// Frames posted to one epoll reactor by the others: a lock-free multi-producer,
// single-consumer queue. Producers push onto an atomic list head; the consumer takes the
// whole list with one exchange and reverses it, so each producer's posts arrive in the
// order it made them (a room's messages from one reactor stay in order). Taking the whole
// list at once means no node is ever popped while a producer reads it: no ABA problem.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>

#include "alloc/shared_frame.h"

namespace ringws {

class PostQueue {
 public:
  PostQueue() = default;
  ~PostQueue() {
    drain([](SharedFrame* frame, uint32_t) { frame->release(); });
  }
  PostQueue(const PostQueue&) = delete;
  PostQueue& operator=(const PostQueue&) = delete;

  enum class Pushed { kWasEmpty, kQueued, kNoMemory };

  /// Any thread: queues `frame` (one reference) with `tag`. kWasEmpty tells the producer
  /// to wake the consumer; on kNoMemory the frame was released.
  Pushed push(SharedFrame* frame, uint32_t tag) {
    Node* node = new (std::nothrow) Node{frame, tag, nullptr};
    if (!node) {
      frame->release();
      return Pushed::kNoMemory;
    }
    Node* head = head_.load(std::memory_order_relaxed);
    do {
      node->next = head;
    } while (!head_.compare_exchange_weak(head, node, std::memory_order_release, std::memory_order_relaxed));
    return head == nullptr ? Pushed::kWasEmpty : Pushed::kQueued;
  }

  /// The consumer's thread only: calls `deliver(frame, tag)` for everything posted so far,
  /// oldest first. Returns how many.
  template <typename Deliver>
  size_t drain(Deliver deliver) {
    Node* list = head_.exchange(nullptr, std::memory_order_acquire);
    Node* oldest_first = nullptr;
    while (list) {
      Node* next = list->next;
      list->next = oldest_first;
      oldest_first = list;
      list = next;
    }
    size_t n = 0;
    while (oldest_first) {
      Node* node = oldest_first;
      oldest_first = node->next;
      deliver(node->frame, node->tag);
      delete node;
      ++n;
    }
    return n;
  }

 private:
  struct Node {
    SharedFrame* frame;
    uint32_t tag;
    Node* next;
  };
  std::atomic<Node*> head_{nullptr};
};

}  // namespace ringws
