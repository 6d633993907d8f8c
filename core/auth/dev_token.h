// Dev mode (--dev-token-secret): the server itself mints short-lived tokens for any name,
// so the demo page works with --auth jwt and no backend. Production tokens come from the
// operator's own backend, which signs them with its key; nothing here is for production.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ringws {

inline constexpr uint32_t kDevTokenSeconds = 600;

/// True for 1 to 32 characters of A-Z a-z 0-9 . _ -.
bool valid_dev_name(std::string_view name);

/// An HS256 token under `secret` with sub `name`, iat now, exp now + kDevTokenSeconds, and
/// every room to join and publish to ("*"); empty for a name valid_dev_name refuses.
std::string mint_dev_token(std::string_view secret, std::string_view name, int64_t now_s);

}  // namespace ringws
