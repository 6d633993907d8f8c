#include "core/auth/keys.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "proto/base64url.h"

namespace ringws {
namespace {

constexpr size_t kMaxKeyFile = 64 * 1024;

/// A key's text from FILE, or from the environment variable NAME when the flag's value is
/// env:NAME (ECS and Kubernetes hand secrets and parameters to a task as variables).
bool read_small_file(const std::string& path, std::string& out, std::string& error) {
  if (path.starts_with("env:")) {
    std::string name = path.substr(4);
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (!value || !*value) {
      error = path + ": the environment variable " + (name.empty() ? "(no name)" : name) + " is not set or empty";
      return false;
    }
    out.assign(value);
    if (out.size() > kMaxKeyFile) {
      error = path + ": larger than 64 KiB, not a key";
      return false;
    }
    return true;
  }
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  out.resize(kMaxKeyFile + 1);
  size_t n = std::fread(out.data(), 1, out.size(), f);
  std::fclose(f);
  if (n > kMaxKeyFile) {
    error = path + ": larger than 64 KiB, not a key";
    return false;
  }
  out.resize(n);
  return true;
}

}  // namespace

bool load_auth_keys(const Config& config, AuthKeys& out, std::string& error) {
  if (config.auth != AuthMode::kJwt) return true;
  std::string text;
  if (!config.dev_token_secret_file.empty()) {
    if (!read_small_file(config.dev_token_secret_file, text, error)) return false;
    out.key = JwtKey::from_secret(text, error);
    if (!out.key) {
      error = "--dev-token-secret: " + error;
      return false;
    }
    if (text.ends_with("\r\n"))
      text.resize(text.size() - 2);
    else if (text.ends_with("\n"))
      text.pop_back();
    out.dev_secret = text;
    return true;
  }
  if (!config.jwt_secret_file.empty()) {
    if (!read_small_file(config.jwt_secret_file, text, error)) return false;
    out.key = JwtKey::from_secret(text, error);
    if (!out.key) error = "--jwt-secret-file: " + error;
  } else {
    if (!read_small_file(config.jwt_public_key_file, text, error)) return false;
    out.key = JwtKey::from_public_pem(text, error);
    if (!out.key) error = "--jwt-public-key-file: " + error;
  }
  return out.key != nullptr;
}

void warm_up_jwt(const JwtKey& key) {
  std::unique_ptr<JwtKey> copy = key.clone();
  if (!copy) return;
  size_t signature_bytes = key.alg() == JwtAlg::kHS256 ? 32 : key.alg() == JwtAlg::kES256 ? 64 : 256;
  std::string header = std::string(R"({"alg":")") + jwt_alg_name(key.alg()) + R"(","typ":"JWT"})";
  std::string token;
  base64url_encode(header, token);
  token += '.';
  base64url_encode(std::string_view(R"({"sub":"warm-up","exp":1,"rooms":["*"]})"), token);
  token += '.';
  base64url_encode(std::string(signature_bytes, '\x01'), token);
  JwtVerifier verifier(std::move(copy), {});
  JwtClaims claims;
  verifier.verify(token, 0, claims);  // kBadSignature: every step up to the last was taken
}

}  // namespace ringws
