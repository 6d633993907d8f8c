// Sizes on the command line (--memory-limit): plain bytes or a number with a unit suffix.
#pragma once

#include <cstdint>
#include <string_view>

namespace ringws {

/// Parses a byte count: digits, optionally followed by one unit suffix, with nothing else
/// (no sign, space, fraction or trailing "B"). The suffixes follow Kubernetes' quantities:
///   K M G T      decimal: 10^3, 10^6, 10^9, 10^12
///   Ki Mi Gi Ti  binary:  2^10, 2^20, 2^30, 2^40
/// Lower-case units are refused rather than guessed: Docker's `-m 512m` means MiB while a
/// Kubernetes "512m" means thousandths. Returns false, leaving `out` unchanged, on junk or
/// when the value does not fit in 64 bits. "0" parses as 0; a caller for which 0 makes no
/// sense refuses it itself.
bool parse_size(std::string_view text, uint64_t& out);

}  // namespace ringws
