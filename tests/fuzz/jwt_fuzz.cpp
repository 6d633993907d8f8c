// libFuzzer driver for the token checks (proto/jwt.h, proto/base64url.h) and the token's place
// in a request (core/auth/token_source.h). Byte 0 picks the mode, the rest is the input:
//   0: a raw token against an HS256 key;
//   1: header JSON and claims JSON (split at the first '\n'), base64url-encoded and signed with
//      the HS256 key, so the fuzzer reaches the claims behind a valid signature;
//   2: a raw token against an ES256 key (random signatures through the DER conversion);
//   3: a request target and Sec-WebSocket-Protocol lines (split at '\n') for find_token and
//      strip_token.
// Checks: a kOk verdict has a subject of 1-255 bytes, an exp, and patterns valid_pattern
// accepts; the same token verifies the same way twice (the verifier reuses its scratch);
// base64url round-trips; the token found views the request or the scratch; a stripped
// target holds no token parameter.
//
// Build: cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
//        -DRINGWS_FUZZ=ON && cmake --build build-fuzz --target jwt_fuzz
// Run:   build-fuzz/tests/fuzz/jwt_fuzz -dict=tests/fuzz/jwt.dict -max_len=6000 \
//        build-fuzz/corpus-jwt tests/fuzz/corpus/jwt
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/auth/token_source.h"
#include "proto/base64url.h"
#include "proto/http_request.h"
#include "proto/jwt.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kSecret = "fuzzing-secret-of-at-least-32-bytes!";
constexpr int64_t kNow = 1764270000;

struct Verifiers {
  std::unique_ptr<ringws::JwtVerifier> hs, es;
  Verifiers() {
    std::string error;
    hs = std::make_unique<ringws::JwtVerifier>(ringws::JwtKey::from_secret(kSecret, error), ringws::JwtLimits{});
    EVP_PKEY* pair = EVP_EC_gen("P-256");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pair);
    char* pem = nullptr;
    long n = BIO_get_mem_data(bio, &pem);
    es = std::make_unique<ringws::JwtVerifier>(
        ringws::JwtKey::from_public_pem(std::string_view(pem, static_cast<size_t>(n)), error), ringws::JwtLimits{});
    BIO_free(bio);
    EVP_PKEY_free(pair);
    check(hs && es);
  }
};

void check_claims(ringws::JwtError e, const ringws::JwtClaims& c) {
  if (e != ringws::JwtError::kOk) return;
  check(!c.sub.empty() && c.sub.size() <= 255);
  check(c.exp + 30 > kNow);
  for (const auto* list : {&c.rooms, &c.publish}) {
    check(list->size() <= 64);
    for (const std::string& p : *list) check(ringws::valid_pattern(p));
  }
}

void verify_twice(ringws::JwtVerifier& v, std::string_view token) {
  ringws::JwtClaims a, b;
  ringws::JwtError e1 = v.verify(token, kNow, a);
  check_claims(e1, a);
  ringws::JwtError e2 = v.verify(token, kNow, b);
  check(e1 == e2);
  if (e1 == ringws::JwtError::kOk) check(a.sub == b.sub && a.exp == b.exp && a.rooms == b.rooms);
  check(ringws::jwt_error_name(e1) != nullptr);
}

void base64url_round_trip(std::string_view bytes) {
  std::string enc;
  ringws::base64url_encode(bytes, enc);
  std::vector<uint8_t> dec(bytes.size() + 1);
  size_t n = ringws::base64url_decode(enc, dec);
  check(n == bytes.size() && std::memcmp(dec.data(), bytes.data(), n) == 0);
  // Decoding the raw input either fails or re-encodes to exactly the input (canonical only).
  std::vector<uint8_t> raw(bytes.size());
  size_t m = ringws::base64url_decode(bytes, raw);
  if (m != SIZE_MAX) {
    std::string again;
    ringws::base64url_encode({raw.data(), m}, again);
    check(again == bytes);
  }
}

void token_source(std::string_view input) {
  ringws::HttpRequest r;
  size_t nl = input.find('\n');
  r.target = input.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
  while (!rest.empty() && r.sec_websocket_protocol_lines < ringws::HttpRequest::kMaxProtocolLines) {
    size_t next = rest.find('\n');
    r.sec_websocket_protocol[r.sec_websocket_protocol_lines++] = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
  }
  std::string scratch;
  ringws::TokenSource t = ringws::find_token(r, scratch);
  auto inside = [](std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
  };
  if (t.where == ringws::TokenSource::kAmbiguous || t.where == ringws::TokenSource::kNone) check(t.token.empty());
  check(inside(t.token, input) || inside(t.token, scratch));
  check(t.subprotocol.empty() || t.subprotocol == ringws::kSubprotocol);
  std::string stripped_scratch;
  std::string_view stripped = ringws::strip_token(r.target, stripped_scratch);
  check(stripped.size() <= r.target.size());
  std::string again_scratch;
  check(ringws::strip_token(stripped, again_scratch) == stripped);  // nothing left to strip
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Verifiers v;
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] & 3) {
    case 0:
      verify_twice(*v.hs, input);
      base64url_round_trip(input.substr(0, 512));
      break;
    case 1: {
      size_t nl = input.find('\n');
      std::string_view header = input.substr(0, nl);
      std::string_view claims = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
      std::string token;
      ringws::base64url_encode(header, token);
      token += '.';
      ringws::base64url_encode(claims, token);
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
           reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
      token += '.';
      ringws::base64url_encode({mac, len}, token);
      verify_twice(*v.hs, token);
      break;
    }
    case 2:
      verify_twice(*v.es, input);
      break;
    case 3:
      token_source(input);
      break;
  }
  return 0;
}
