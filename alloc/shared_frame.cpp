#include "alloc/shared_frame.h"

#include <cstdlib>
#include <new>

namespace ringws {

SharedFrame* SharedFrame::create(uint32_t size) {
  void* p = std::malloc(sizeof(SharedFrame) + size);
  if (!p) return nullptr;
  return new (p) SharedFrame(size);
}

bool SharedFrame::release() {
  // acq_rel: the thread that frees must see every other thread's use of the bytes.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return false;
  this->~SharedFrame();
  std::free(this);
  return true;
}

}  // namespace ringws
