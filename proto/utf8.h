// UTF-8 validation of a message that arrives in pieces (fragments, or chunks of one frame),
// failing as early as the bytes allow. simdjson validates whole runs; up to three bytes of
// a code point split across pieces are carried to the next piece.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringws {

class Utf8Stream {
 public:
  /// Validates the next piece. Returns false as soon as the bytes so far cannot be the
  /// start of valid UTF-8. With `final`, also fails if a code point is left incomplete.
  bool feed(std::span<const uint8_t> piece, bool final);
  void reset() { carry_len_ = 0; }

 private:
  uint8_t carry_[4] = {};
  uint8_t carry_len_ = 0;
};

/// Validates a complete buffer.
bool is_valid_utf8(std::span<const uint8_t> bytes);

}  // namespace ringws
