// --auth jwt's key, loaded once at start from --jwt-secret-file, --jwt-public-key-file or
// --dev-token-secret; each reactor verifies with its own copy (JwtKey::clone).
#pragma once

#include <memory>
#include <string>

#include "proto/jwt.h"

namespace ringws {

struct Config;

struct AuthKeys {
  std::unique_ptr<JwtKey> key;  ///< null with --auth none
  std::string dev_secret;       ///< --dev-token-secret's secret (dev mode), else empty
};

/// Reads the configured key file. False with `error` set when a file cannot be read or
/// holds no usable key.
bool load_auth_keys(const Config& config, AuthKeys& out, std::string& error);

}  // namespace ringws
