// Close status codes (RFC 6455 section 7.4 and the IANA registry).
#pragma once

#include <cstdint>

namespace ringws {

/// True for a code a peer may send in a close frame: 1000-1003, 1007-1014 and 3000-4999.
/// 1004 is reserved; 1005, 1006 and 1015 must never appear on the wire.
bool is_valid_close_code(uint16_t code);

}  // namespace ringws
