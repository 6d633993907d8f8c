// Who is on each connection of a reactor, with --auth jwt: a side table indexed by slot,
// like the slab itself (pages are committed only as the slab's high water grows). A row is
// 24 bytes: the token's expiry as an engine tick, its interned grants, and its "sub"
// (inline up to 15 bytes, on the heap beyond). Rows of slots without an identity stay zero.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace ringws {

/// A short string in 16 bytes: inline up to 15 bytes, else one heap block.
class UserName {
 public:
  static constexpr size_t kInline = 15;
  UserName() { std::memset(bytes_, 0, sizeof bytes_); }
  ~UserName() { clear(); }
  UserName(const UserName&) = delete;
  UserName& operator=(const UserName&) = delete;

  void assign(std::string_view text);
  void clear();
  std::string_view view() const;

 private:
  static constexpr uint8_t kHeap = 0xff;
  // Inline: the text in bytes_[0, 15), its length in bytes_[15]. Heap: a char* at
  // bytes_[0], the uint32 length at bytes_[8], kHeap at bytes_[15].
  alignas(8) unsigned char bytes_[16];
};
static_assert(sizeof(UserName) == 16);

struct Identity {
  uint32_t expires = 0;      ///< tick at which the token has run out (0: no identity)
  uint32_t grants : 31 = 0;  ///< GrantTable handle
  uint32_t warned : 1 = 0;   ///< token_expiring was sent for the current token
  UserName user;             ///< the token's "sub"
};
static_assert(sizeof(Identity) == 24, "an identity row is part of the per-connection budget");

class IdentityTable {
 public:
  /// Reserves rows for `capacity` slots (lazily committed zero pages).
  explicit IdentityTable(uint32_t capacity);
  /// The owner clears every row it filled first (the engine frees its live slots).
  ~IdentityTable();
  IdentityTable(const IdentityTable&) = delete;
  IdentityTable& operator=(const IdentityTable&) = delete;

  Identity& at(uint32_t index) { return rows_[index]; }
  const Identity& at(uint32_t index) const { return rows_[index]; }
  /// Empties row `index` (the slot is being freed); returns its grants handle to release.
  uint32_t clear(uint32_t index);

 private:
  uint32_t capacity_;
  Identity* rows_;
};

}  // namespace ringws
