#include "proto/close_code.h"

namespace ringws {

bool is_valid_close_code(uint16_t code) {
  // 1004 is reserved; 1005, 1006 and 1015 are for APIs, never the wire; 1016-2999 are
  // unassigned IANA ranges a peer may not use yet; 3000-4999 belong to libraries and apps.
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace ringws
