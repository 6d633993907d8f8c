// Test-only token minting: keys made with OpenSSL at run time, tokens signed with them, so
// the verifier is checked against real signatures of every algorithm (and deliberately
// wrong ones). Nothing here is used by the server.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "proto/base64url.h"

namespace ringws::test {

/// A key pair (RSA or EC P-256), freed on destruction.
class TestKeyPair {
 public:
  static TestKeyPair rsa(int bits = 2048) { return TestKeyPair(EVP_RSA_gen(static_cast<unsigned>(bits))); }
  static TestKeyPair ec(const char* curve = "P-256") { return TestKeyPair(EVP_EC_gen(curve)); }
  TestKeyPair(TestKeyPair&& o) noexcept : pkey_(o.pkey_) { o.pkey_ = nullptr; }
  ~TestKeyPair() { EVP_PKEY_free(pkey_); }

  std::string public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey_);
    return drain(bio);
  }
  std::string private_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey_, nullptr, nullptr, 0, nullptr, nullptr);
    return drain(bio);
  }
  /// The raw signature JWS uses: PKCS#1 v1.5 for RSA, R || S (64 bytes) for EC.
  std::string sign(std::string_view input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (EVP_PKEY_get_base_id(pkey_) != EVP_PKEY_EC) return sig;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }
  /// The DER signature OpenSSL makes, which JWS does not use.
  std::string sign_der(std::string_view input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_);
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }

 private:
  explicit TestKeyPair(EVP_PKEY* p) : pkey_(p) {
    if (!pkey_) throw std::runtime_error("key generation failed");
  }
  static std::string drain(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  }
  EVP_PKEY* pkey_;
};

inline std::string b64url(std::string_view bytes) {
  std::string out;
  base64url_encode(bytes, out);
  return out;
}

inline std::string hmac_sha256(std::string_view secret, std::string_view input) {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

/// header.payload, base64url-encoded from JSON texts.
inline std::string signing_input(std::string_view header_json, std::string_view payload_json) {
  return b64url(header_json) + "." + b64url(payload_json);
}

inline std::string hs256_token(std::string_view secret, std::string_view payload_json,
                               std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})") {
  std::string input = signing_input(header_json, payload_json);
  return input + "." + b64url(hmac_sha256(secret, input));
}

inline std::string signed_token(const TestKeyPair& key, std::string_view header_json, std::string_view payload_json) {
  std::string input = signing_input(header_json, payload_json);
  return input + "." + b64url(key.sign(input));
}

/// {"sub":SUB,"exp":EXP,...extra} as JSON text; `extra` starts with a comma when given.
inline std::string claims(std::string_view sub, int64_t exp, std::string_view extra = {}) {
  return std::string(R"({"sub":")") + std::string(sub) + R"(","exp":)" + std::to_string(exp) + std::string(extra) + "}";
}

inline constexpr std::string_view kTestSecret = "0123456789abcdef0123456789abcdef-test-secret";

}  // namespace ringws::test
