#include "core/auth/identity.h"

#include <cstdlib>
#include <new>

#include "alloc/slab.h"

namespace ringws {

void UserName::assign(std::string_view text) {
  clear();
  if (text.size() <= kInline) {
    std::memcpy(bytes_, text.data(), text.size());
    bytes_[15] = static_cast<unsigned char>(text.size());
    return;
  }
  char* heap = static_cast<char*>(std::malloc(text.size()));
  if (!heap) return;  // out of memory: the user stays empty
  std::memcpy(heap, text.data(), text.size());
  uint32_t length = static_cast<uint32_t>(text.size());
  std::memcpy(bytes_, &heap, sizeof heap);
  std::memcpy(bytes_ + 8, &length, sizeof length);
  bytes_[15] = kHeap;
}

void UserName::clear() {
  if (bytes_[15] == kHeap) {
    char* heap;
    std::memcpy(&heap, bytes_, sizeof heap);
    std::free(heap);
  }
  std::memset(bytes_, 0, sizeof bytes_);
}

std::string_view UserName::view() const {
  if (bytes_[15] != kHeap) return {reinterpret_cast<const char*>(bytes_), bytes_[15]};
  char* heap;
  uint32_t length;
  std::memcpy(&heap, bytes_, sizeof heap);
  std::memcpy(&length, bytes_ + 8, sizeof length);
  return {heap, length};
}

// Zero-filled pages are a valid empty row: expires 0, no grants, an empty inline user.
IdentityTable::IdentityTable(uint32_t capacity)
    : capacity_(capacity), rows_(static_cast<Identity*>(reserve_pages(sizeof(Identity) * capacity))) {}

IdentityTable::~IdentityTable() { release_pages(rows_, sizeof(Identity) * capacity_); }

uint32_t IdentityTable::clear(uint32_t index) {
  Identity& row = rows_[index];
  uint32_t grants = row.grants;
  row.user.clear();
  row.expires = 0;
  row.grants = 0;
  row.warned = 0;
  return grants;
}

}  // namespace ringws
