#include "proto/ws_accept.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace ringws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// The base64 value of a character, or -1 outside the alphabet (RFC 4648 section 4).
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

void websocket_accept(std::string_view key, char out[kWebSocketAcceptLength]) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  // A valid key is 24 bytes, so key + GUID fits a small stack buffer and the one-shot
  // digest needs no context allocation. Longer keys (never valid, but this function must
  // not care) go through an EVP context.
  char joined[128];
  if (key.size() + kGuid.size() <= sizeof(joined)) {
    std::memcpy(joined, key.data(), key.size());
    std::memcpy(joined + key.size(), kGuid.data(), kGuid.size());
    SHA1(reinterpret_cast<const unsigned char*>(joined), key.size() + kGuid.size(), digest);
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
              EVP_DigestUpdate(ctx, key.data(), key.size()) == 1 &&
              EVP_DigestUpdate(ctx, kGuid.data(), kGuid.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, digest, &len) == 1;
    EVP_MD_CTX_free(ctx);
    // Only allocation failure gets here; an all-zero digest makes a value no client
    // accepts, which fails the handshake rather than the process.
    if (!ok) std::memset(digest, 0, sizeof(digest));
  }
  // EVP_EncodeBlock NUL-terminates: 20 bytes encode to 28 characters plus the NUL.
  unsigned char encoded[kWebSocketAcceptLength + 1];
  EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  std::memcpy(out, encoded, kWebSocketAcceptLength);
}

bool is_valid_websocket_key(std::string_view key) {
  // 16 bytes are 5 groups of 3 (20 characters) and one byte: 2 characters and "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (size_t i = 0; i < 22; ++i) {
    if (base64_value(key[i]) < 0) return false;
  }
  // The last character carries 2 bits of the 16th byte and 4 padding bits; a canonical
  // encoder leaves those zero (RFC 4648 section 3.5), so anything else is not the
  // encoding of 16 bytes.
  return (base64_value(key[21]) & 0x0f) == 0;
}

}  // namespace ringws
