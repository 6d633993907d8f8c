// JSON Web Tokens (RFC 7519) in JWS compact form (RFC 7515), checked with OpenSSL: HS256,
// RS256 and ES256 (RFC 7518 section 3). The configured key decides the one algorithm a
// token may use; the token's own "alg" header only has to agree with it, so "none" and
// algorithm confusion (an HS256 token "signed" with an RSA public key as its secret) are
// refused however the token is dressed.
//
// JwtVerifier::verify is a pure function of the token, the key, the time and the limits
// (STYLE.md habit 1): it caps what it reads, allocates only into the claims it returns and
// its own reused scratch, and does no I/O. One verifier per reactor (it keeps a JSON parser).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;
namespace simdjson::dom {
class parser;
}

namespace ringws {

enum class JwtAlg : uint8_t { kHS256, kRS256, kES256 };
const char* jwt_alg_name(JwtAlg alg);

/// The one key tokens are checked with. Its type sets the algorithm: a secret HS256, an RSA
/// public key (2048 bits or more) RS256, an EC P-256 public key ES256.
class JwtKey {
 public:
  /// An HS256 secret: the bytes as given, less one trailing "\n" or "\r\n" (a secret file
  /// written by `openssl rand -hex 32 > file` ends in one). At least 32 bytes (RFC 7518
  /// section 3.2: a key as long as the hash). Null with `error` set otherwise.
  static std::unique_ptr<JwtKey> from_secret(std::string_view secret, std::string& error);
  /// A PEM public key ("-----BEGIN PUBLIC KEY-----"): RSA for RS256, EC P-256 for ES256.
  /// Null with `error` set for anything else (a private key, another curve, a short RSA key).
  static std::unique_ptr<JwtKey> from_public_pem(std::string_view pem, std::string& error);
  ~JwtKey();
  JwtKey(const JwtKey&) = delete;
  JwtKey& operator=(const JwtKey&) = delete;

  JwtAlg alg() const { return alg_; }
  /// A copy for another thread (OpenSSL keys are shared read-only only with care).
  std::unique_ptr<JwtKey> clone() const;
  /// True if `signature` (raw, as decoded from the token) signs `input` under this key.
  /// ES256 signatures are R || S, 64 bytes (RFC 7518 section 3.4), not DER.
  bool verify(std::string_view input, std::span<const uint8_t> signature) const;

 private:
  explicit JwtKey(JwtAlg alg) : alg_(alg) {}
  JwtAlg alg_;
  std::string secret_;        ///< HS256
  EVP_PKEY* pkey_ = nullptr;  ///< RS256, ES256
};

enum class JwtError : uint8_t {
  kOk,
  kTooLong,      ///< over JwtLimits::max_token bytes
  kMalformed,    ///< not three non-empty dot-separated parts
  kBadBase64,    ///< a part is not canonical unpadded base64url
  kBadHeader,    ///< not a JSON object with a string "alg"; "crit"; a "typ" other than JWT or at+jwt
  kAlgNone,      ///< "alg":"none" (an unsecured JWS)
  kAlgMismatch,  ///< "alg" is not the configured key's algorithm (algorithm confusion)
  kBadSignature,
  kBadClaims,  ///< the payload is not a JSON object; a claim of the wrong type; a repeated claim
  kMissingExp,
  kMissingSub,      ///< "sub" missing, empty, or longer than JwtLimits::max_sub
  kBadPattern,      ///< a "rooms" or "publish" entry is not a pattern, or there are too many
  kExpired,         ///< now >= exp + leeway
  kNotYetValid,     ///< now + leeway < nbf
  kIssuedInFuture,  ///< now + leeway < iat
  kCount,
};
/// A short name for logs ("expired", "bad_signature", ...).
const char* jwt_error_name(JwtError e);

struct JwtLimits {
  size_t max_token = 4096;   ///< bytes of the whole compact token
  uint32_t leeway_s = 30;    ///< clock skew allowed on exp, nbf and iat
  size_t max_sub = 255;      ///< bytes of "sub"
  size_t max_patterns = 64;  ///< entries of "rooms", and of "publish"
  size_t max_pattern = 256;  ///< bytes of one pattern
};

/// The claims ringws acts on.
struct JwtClaims {
  std::string sub;
  int64_t exp = 0;                   ///< seconds since the Unix epoch
  int64_t nbf = INT64_MIN;           ///< INT64_MIN: absent
  int64_t iat = INT64_MIN;           ///< INT64_MIN: absent
  std::vector<std::string> rooms;    ///< patterns of rooms the user may join; absent: none
  std::vector<std::string> publish;  ///< patterns of rooms the user may publish to; absent: none
  void clear();
};

class JwtVerifier {
 public:
  JwtVerifier(std::unique_ptr<JwtKey> key, JwtLimits limits);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  /// Checks `token` at `now_s` (seconds since the Unix epoch): its form, header, signature,
  /// then claims. `out` is meaningful only with kOk. Claims are read only once the signature
  /// holds. Numeric dates may be fractional (RFC 7519 section 2); they are rounded down.
  JwtError verify(std::string_view token, int64_t now_s, JwtClaims& out);

  const JwtKey& key() const { return *key_; }
  const JwtLimits& limits() const { return limits_; }

 private:
  JwtError check_header(size_t length);
  JwtError read_claims(size_t length, JwtClaims& out);

  std::unique_ptr<JwtKey> key_;
  JwtLimits limits_;
  std::unique_ptr<simdjson::dom::parser> parser_;
  std::string scratch_;  ///< a decoded part plus simdjson's padding
  std::string signature_;
};

/// Permission patterns: a trailing '*' matches any suffix (so "news.*" matches "news.sport"
/// and "news.", and "*" matches every name); every other character matches itself.
bool pattern_matches(std::string_view pattern, std::string_view name);
bool any_pattern_matches(std::span<const std::string> patterns, std::string_view name);
/// 1 to `max` bytes of printable ASCII, with '*' only as the last character.
bool valid_pattern(std::string_view pattern, size_t max = 256);

}  // namespace ringws
