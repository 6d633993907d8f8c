#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

#include "alloc/slab.h"

namespace ringws {

void* reserve_pages(size_t bytes) {
  if (bytes == 0) bytes = 1;
  // MAP_NORESERVE: the reservation is address space only; pages are charged when touched.
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("ringws: mmap");
    std::abort();
  }
  return p;
}

void release_pages(void* p, size_t bytes) { munmap(p, bytes == 0 ? 1 : bytes); }

}  // namespace ringws
