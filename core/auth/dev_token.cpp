#include "core/auth/dev_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proto/base64url.h"

namespace ringws {

bool valid_dev_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return true;
}

std::string mint_dev_token(std::string_view secret, std::string_view name, int64_t now_s) {
  if (!valid_dev_name(name)) return {};
  // The name's characters need no JSON escaping (valid_dev_name).
  std::string payload = "{\"sub\":\"" + std::string(name) + "\",\"iat\":" + std::to_string(now_s) +
                        ",\"exp\":" + std::to_string(now_s + kDevTokenSeconds) +
                        ",\"rooms\":[\"*\"],\"publish\":[\"*\"],\"dev\":true}";
  std::string token;
  base64url_encode(std::string_view(R"({"alg":"HS256","typ":"JWT"})"), token);
  token += '.';
  base64url_encode(payload, token);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len))
    return {};
  token += '.';
  base64url_encode({mac, len}, token);
  return token;
}

}  // namespace ringws
