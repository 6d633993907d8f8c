#include "proto/jwt.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "proto/base64url.h"

namespace ringws {
namespace {

constexpr size_t kMinSecret = 32;
constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxSignature = 1024;  // RSA 8192 is 1,024 bytes

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

/// EVP_DigestVerify with SHA-256 over `input`; `signature` in the form OpenSSL expects.
bool digest_verify(EVP_PKEY* pkey, std::string_view input, const uint8_t* signature, size_t length) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestVerify(ctx, signature, length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

/// R || S (32 bytes each) as the DER ECDSA-Sig-Value OpenSSL verifies; 0 on failure.
size_t es256_to_der(std::span<const uint8_t> raw, uint8_t* der, size_t capacity) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(raw.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return 0;
  }
  int n = i2d_ECDSA_SIG(sig, nullptr);
  size_t written = 0;
  if (n > 0 && static_cast<size_t>(n) <= capacity) {
    unsigned char* p = der;
    written = static_cast<size_t>(i2d_ECDSA_SIG(sig, &p));
  }
  ECDSA_SIG_free(sig);  // frees r and s
  return written;
}

/// A JSON number as whole seconds (rounded down), or false for another type.
bool numeric_date(simdjson::dom::element v, int64_t& out) {
  // Clamped to +-2^62 seconds: far past any date, and safe to add a leeway to (and never
  // INT64_MIN, which stands for an absent nbf or iat).
  constexpr int64_t kFar = int64_t{1} << 62;
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) {
    out = std::clamp(i, -kFar, kFar);
    return true;
  }
  uint64_t u;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) {
    out = kFar;
    return true;
  }
  double d;
  if (v.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) return false;
  if (d >= 4e18)
    out = INT64_MAX / 2;
  else if (d <= -4e18)
    out = INT64_MIN / 2;
  else
    out = static_cast<int64_t>(std::floor(d));
  return true;
}

/// A JSON array of patterns into `out`; false for anything else.
bool read_patterns(simdjson::dom::element v, const JwtLimits& limits, std::vector<std::string>& out, JwtError& error) {
  simdjson::dom::array list;
  if (v.get_array().get(list) != simdjson::SUCCESS) {
    error = JwtError::kBadClaims;
    return false;
  }
  if (list.size() > limits.max_patterns) {
    error = JwtError::kBadPattern;
    return false;
  }
  for (simdjson::dom::element item : list) {
    std::string_view p;
    if (item.get_string().get(p) != simdjson::SUCCESS || !valid_pattern(p, limits.max_pattern)) {
      error = JwtError::kBadPattern;
      return false;
    }
    out.emplace_back(p);
  }
  return true;
}

}  // namespace

const char* jwt_alg_name(JwtAlg alg) {
  switch (alg) {
    case JwtAlg::kHS256:
      return "HS256";
    case JwtAlg::kRS256:
      return "RS256";
    case JwtAlg::kES256:
      return "ES256";
  }
  return "?";
}

const char* jwt_error_name(JwtError e) {
  static const char* const kNames[] = {"ok",         "too_long",      "malformed",       "bad_base64",
                                       "bad_header", "alg_none",      "alg_mismatch",    "bad_signature",
                                       "bad_claims", "missing_exp",   "missing_sub",     "bad_pattern",
                                       "expired",    "not_yet_valid", "issued_in_future"};
  static_assert(std::size(kNames) == static_cast<size_t>(JwtError::kCount));
  return kNames[static_cast<size_t>(e)];
}

// ---------------------------------------------------------------------------------------
// Keys

std::unique_ptr<JwtKey> JwtKey::from_secret(std::string_view secret, std::string& error) {
  if (secret.ends_with("\r\n"))
    secret.remove_suffix(2);
  else if (secret.ends_with("\n"))
    secret.remove_suffix(1);
  if (secret.size() < kMinSecret) {
    error = "an HS256 secret needs at least 32 bytes (RFC 7518 section 3.2); got " + std::to_string(secret.size());
    return nullptr;
  }
  std::unique_ptr<JwtKey> key(new JwtKey(JwtAlg::kHS256));
  key->secret_.assign(secret);
  return key;
}

std::unique_ptr<JwtKey> JwtKey::from_public_pem(std::string_view pem, std::string& error) {
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    error = "this is a private key: give ringws only the public key (openssl pkey -pubout)";
    return nullptr;
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!pkey) {
    error = "not a PEM public key (-----BEGIN PUBLIC KEY-----)";
    return nullptr;
  }
  std::unique_ptr<JwtKey> key;
  if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) {
      error = "an RSA key for RS256 needs at least 2048 bits; got " + std::to_string(EVP_PKEY_get_bits(pkey));
    } else {
      key.reset(new JwtKey(JwtAlg::kRS256));
    }
  } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256")) {
      key.reset(new JwtKey(JwtAlg::kES256));
    } else {
      error = std::string("an EC key for ES256 must be on P-256 (prime256v1); got ") + (group[0] ? group : "?");
    }
  } else {
    error = "the public key is neither RSA (RS256) nor EC P-256 (ES256)";
  }
  if (!key) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  key->pkey_ = pkey;
  return key;
}

JwtKey::~JwtKey() {
  EVP_PKEY_free(pkey_);
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

std::unique_ptr<JwtKey> JwtKey::clone() const {
  std::unique_ptr<JwtKey> copy(new JwtKey(alg_));
  copy->secret_ = secret_;
  if (pkey_) {
    copy->pkey_ = EVP_PKEY_dup(pkey_);
    if (!copy->pkey_) return nullptr;
  }
  return copy;
}

bool JwtKey::verify(std::string_view input, std::span<const uint8_t> signature) const {
  switch (alg_) {
    case JwtAlg::kHS256: {
      if (signature.size() != 32) return false;
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len) ||
          len != 32)
        return false;
      return CRYPTO_memcmp(mac, signature.data(), 32) == 0;  // constant time
    }
    case JwtAlg::kRS256:
      return digest_verify(pkey_, input, signature.data(), signature.size());
    case JwtAlg::kES256: {
      if (signature.size() != 64) return false;
      uint8_t der[80];
      size_t n = es256_to_der(signature, der, sizeof der);
      return n && digest_verify(pkey_, input, der, n);
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// Tokens

void JwtClaims::clear() {
  sub.clear();
  exp = 0;
  nbf = iat = INT64_MIN;
  rooms.clear();
  publish.clear();
}

JwtVerifier::JwtVerifier(std::unique_ptr<JwtKey> key, JwtLimits limits)
    : key_(std::move(key)), limits_(limits), parser_(std::make_unique<simdjson::dom::parser>()) {
  scratch_.reserve(limits_.max_token + simdjson::SIMDJSON_PADDING);
  signature_.reserve(kMaxSignature);
}

JwtVerifier::~JwtVerifier() = default;

JwtError JwtVerifier::verify(std::string_view token, int64_t now_s, JwtClaims& out) {
  out.clear();
  if (token.size() > limits_.max_token) return JwtError::kTooLong;
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  // Exactly three parts: a JWE (five) or anything else is not a JWS compact token.
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return JwtError::kMalformed;
  std::string_view header = token.substr(0, dot1);
  std::string_view payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string_view signature = token.substr(dot2 + 1);
  if (header.empty() || payload.empty()) return JwtError::kMalformed;

  // Every part must be canonical base64url before anything is believed.
  size_t sig_size = base64url_decoded_size(signature.size());
  if (sig_size == SIZE_MAX || sig_size > kMaxSignature) return JwtError::kBadBase64;
  signature_.resize(sig_size);
  if (base64url_decode(signature, {reinterpret_cast<uint8_t*>(signature_.data()), sig_size}) == SIZE_MAX)
    return JwtError::kBadBase64;
  if (base64url_decoded_size(payload.size()) == SIZE_MAX) return JwtError::kBadBase64;
  auto decode = [&](std::string_view part, size_t& length) {
    length = base64url_decoded_size(part.size());
    if (length == SIZE_MAX) return false;
    scratch_.resize(length + simdjson::SIMDJSON_PADDING);
    return base64url_decode(part, {reinterpret_cast<uint8_t*>(scratch_.data()), length}) != SIZE_MAX;
  };
  size_t length = 0;
  if (!decode(payload, length)) return JwtError::kBadBase64;
  if (!decode(header, length)) return JwtError::kBadBase64;
  if (JwtError e = check_header(length); e != JwtError::kOk) return e;
  if (signature.empty()) return JwtError::kBadSignature;
  if (!key_->verify(token.substr(0, dot2), {reinterpret_cast<const uint8_t*>(signature_.data()), signature_.size()}))
    return JwtError::kBadSignature;

  decode(payload, length);  // checked above
  if (JwtError e = read_claims(length, out); e != JwtError::kOk) return e;
  int64_t leeway = limits_.leeway_s;
  if (now_s >= out.exp + leeway) return JwtError::kExpired;
  if (out.nbf != INT64_MIN && now_s + leeway < out.nbf) return JwtError::kNotYetValid;
  if (out.iat != INT64_MIN && now_s + leeway < out.iat) return JwtError::kIssuedInFuture;
  return JwtError::kOk;
}

JwtError JwtVerifier::check_header(size_t length) {
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (parser_->parse(scratch_.data(), length, false).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS)
    return JwtError::kBadHeader;
  std::string_view alg;
  bool have_alg = false;
  for (simdjson::dom::key_value_pair field : object) {
    if (field.key == "alg") {
      if (have_alg || field.value.get_string().get(alg) != simdjson::SUCCESS) return JwtError::kBadHeader;
      have_alg = true;
    } else if (field.key == "crit") {
      return JwtError::kBadHeader;  // extensions the issuer says must be understood: none are
    } else if (field.key == "typ") {
      std::string_view typ;
      // A JWT, or an OAuth access token in JWT form (RFC 9068): other types are other
      // documents that happen to be signed with the same key (RFC 8725 section 3.11).
      if (field.value.get_string().get(typ) != simdjson::SUCCESS ||
          !(iequals(typ, "JWT") || iequals(typ, "at+jwt") || iequals(typ, "application/at+jwt")))
        return JwtError::kBadHeader;
    }
  }
  if (!have_alg) return JwtError::kBadHeader;
  if (iequals(alg, "none")) return JwtError::kAlgNone;
  if (alg != jwt_alg_name(key_->alg())) return JwtError::kAlgMismatch;
  return JwtError::kOk;
}

JwtError JwtVerifier::read_claims(size_t length, JwtClaims& out) {
  simdjson::dom::element root;
  simdjson::dom::object object;
  if (parser_->parse(scratch_.data(), length, false).get(root) != simdjson::SUCCESS ||
      root.get_object().get(object) != simdjson::SUCCESS)
    return JwtError::kBadClaims;
  enum Seen : unsigned { kSub = 1, kExp = 2, kNbf = 4, kIat = 8, kRooms = 16, kPublish = 32 };
  unsigned seen = 0;
  auto once = [&](unsigned bit) {
    bool first = !(seen & bit);
    seen |= bit;
    return first;
  };
  JwtError error = JwtError::kBadClaims;
  for (simdjson::dom::key_value_pair field : object) {
    std::string_view k = field.key;
    if (k == "sub") {
      std::string_view sub;
      if (!once(kSub) || field.value.get_string().get(sub) != simdjson::SUCCESS) return JwtError::kBadClaims;
      if (sub.empty() || sub.size() > limits_.max_sub) return JwtError::kMissingSub;
      out.sub.assign(sub);
    } else if (k == "exp") {
      if (!once(kExp) || !numeric_date(field.value, out.exp)) return JwtError::kBadClaims;
    } else if (k == "nbf") {
      if (!once(kNbf) || !numeric_date(field.value, out.nbf)) return JwtError::kBadClaims;
    } else if (k == "iat") {
      if (!once(kIat) || !numeric_date(field.value, out.iat)) return JwtError::kBadClaims;
    } else if (k == "rooms") {
      if (!once(kRooms) || !read_patterns(field.value, limits_, out.rooms, error)) return error;
    } else if (k == "publish") {
      if (!once(kPublish) || !read_patterns(field.value, limits_, out.publish, error)) return error;
    }
  }
  if (!(seen & kExp)) return JwtError::kMissingExp;
  if (!(seen & kSub)) return JwtError::kMissingSub;
  return JwtError::kOk;
}

// ---------------------------------------------------------------------------------------
// Patterns

bool pattern_matches(std::string_view pattern, std::string_view name) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return name.starts_with(pattern);
  }
  return pattern == name;
}

bool any_pattern_matches(std::span<const std::string> patterns, std::string_view name) {
  for (const std::string& p : patterns)
    if (pattern_matches(p, name)) return true;
  return false;
}

bool valid_pattern(std::string_view pattern, size_t max) {
  if (pattern.empty() || pattern.size() > max) return false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    auto c = static_cast<unsigned char>(pattern[i]);
    if (c <= 0x20 || c >= 0x7f) return false;
    if (c == '*' && i + 1 != pattern.size()) return false;
  }
  return true;
}

}  // namespace ringws
