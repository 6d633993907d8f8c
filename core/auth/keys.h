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

/// Runs one verification with `key` (of a token that fails its signature), so that the code
/// it needs (base64url, simdjson, OpenSSL's HMAC, RSA or ECDSA) is paged in at start: a
/// fixed cost seen at start, not growth that looks per-connection (as for SHA-1 in server.cpp).
void warm_up_jwt(const JwtKey& key);

}  // namespace ringws
