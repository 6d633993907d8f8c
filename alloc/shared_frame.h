// A serialized server frame (or any outgoing bytes) shared by every connection that sends
// it: a broadcast is written once and queued by reference (DESIGN.md: one copy per
// message). The count is atomic because reactors on other threads hold references too.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ringws {

class SharedFrame {
 public:
  /// A frame of `size` bytes with one reference, contents uninitialised; nullptr if out of memory.
  static SharedFrame* create(uint32_t size);

  uint8_t* data() { return bytes_; }
  const uint8_t* data() const { return bytes_; }
  uint32_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {bytes_, size_}; }

  void retain(uint32_t n = 1) { refs_.fetch_add(n, std::memory_order_relaxed); }
  /// Drops one reference and frees the frame on the last one; true if it was the last.
  bool release();

  /// When the message this frame carries arrived (monotonic ns), for the delivery-latency
  /// histogram; 0 when not measured. Set before the frame is shared.
  uint64_t origin_ns() const { return origin_ns_; }
  void set_origin_ns(uint64_t ns) { origin_ns_ = ns; }
  uint32_t ref_count() const { return refs_.load(std::memory_order_relaxed); }

 private:
  SharedFrame(uint32_t size) : refs_(1), size_(size) {}
  std::atomic<uint32_t> refs_;
  uint32_t size_;
  uint64_t origin_ns_ = 0;
  uint8_t bytes_[];
};

}  // namespace ringws
