// The JWT checks: every algorithm with real signatures, "none", algorithm confusion, the time
// claims with their leeway, bad signatures, malformed base64url, oversized tokens, claim
// types, key loading and the room patterns.
#include "proto/jwt.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "tests/unit/proto/jwt_signing.h"

namespace ringws {
namespace {

using test::b64url;
using test::claims;
using test::hs256_token;
using test::kTestSecret;
using test::signed_token;
using test::TestKeyPair;

constexpr int64_t kNow = 1764270000;

std::unique_ptr<JwtKey> secret_key(std::string_view secret = kTestSecret) {
  std::string error;
  auto key = JwtKey::from_secret(secret, error);
  EXPECT_TRUE(key) << error;
  return key;
}

std::unique_ptr<JwtKey> public_key(const TestKeyPair& pair) {
  std::string error;
  auto key = JwtKey::from_public_pem(pair.public_pem(), error);
  EXPECT_TRUE(key) << error;
  return key;
}

JwtError check(JwtVerifier& v, std::string_view token, JwtClaims* out = nullptr, int64_t now = kNow) {
  JwtClaims c;
  JwtError e = v.verify(token, now, c);
  if (out) *out = c;
  return e;
}

const TestKeyPair& rsa() {
  static TestKeyPair k = TestKeyPair::rsa();
  return k;
}
const TestKeyPair& ec() {
  static TestKeyPair k = TestKeyPair::ec();
  return k;
}

TEST(Jwt, Hs256TokenGivesItsClaims) {
  JwtVerifier v(secret_key(), {});
  JwtClaims c;
  std::string token = hs256_token(kTestSecret, R"({"sub":"alice","exp":1764270060,"nbf":1764269990,"iat":1764269990.5,)"
                                               R"("rooms":["lobby","team:*"],"publish":["lobby"],"name":"ignored"})");
  ASSERT_EQ(check(v, token, &c), JwtError::kOk);
  EXPECT_EQ(c.sub, "alice");
  EXPECT_EQ(c.exp, 1764270060);
  EXPECT_EQ(c.nbf, 1764269990);
  EXPECT_EQ(c.iat, 1764269990);  // rounded down
  EXPECT_EQ(c.rooms, (std::vector<std::string>{"lobby", "team:*"}));
  EXPECT_EQ(c.publish, (std::vector<std::string>{"lobby"}));
}

TEST(Jwt, Rs256AndEs256TokensVerify) {
  for (const TestKeyPair* pair : {&rsa(), &ec()}) {
    bool is_rsa = pair == &rsa();
    JwtVerifier v(public_key(*pair), {});
    EXPECT_EQ(v.key().alg(), is_rsa ? JwtAlg::kRS256 : JwtAlg::kES256);
    std::string header = is_rsa ? R"({"alg":"RS256","typ":"JWT","kid":"k1"})" : R"({"alg":"ES256"})";
    JwtClaims c;
    ASSERT_EQ(check(v, signed_token(*pair, header, claims("bob", kNow + 10)), &c), JwtError::kOk);
    EXPECT_EQ(c.sub, "bob");
    EXPECT_TRUE(c.rooms.empty());
    EXPECT_TRUE(c.publish.empty());
    // One altered byte anywhere in what is signed breaks it.
    std::string token = signed_token(*pair, header, claims("bob", kNow + 10));
    std::string altered = signed_token(*pair, header, claims("bob", kNow + 11));
    std::string spliced = altered.substr(0, altered.rfind('.')) + token.substr(token.rfind('.'));
    EXPECT_EQ(check(v, spliced), JwtError::kBadSignature);
  }
}

TEST(Jwt, AnEs256SignatureInDerFormIsRefused) {
  JwtVerifier v(public_key(ec()), {});
  std::string input = test::signing_input(R"({"alg":"ES256"})", claims("bob", kNow + 10));
  EXPECT_EQ(check(v, input + "." + b64url(ec().sign_der(input))), JwtError::kBadSignature);
}

TEST(Jwt, AlgNoneIsRefusedWithOrWithoutASignature) {
  JwtVerifier v(secret_key(), {});
  for (std::string_view alg : {"none", "None", "NONE"}) {
    std::string header = std::string(R"({"alg":")") + std::string(alg) + R"("})";
    std::string unsigned_token = test::signing_input(header, claims("mallory", kNow + 60)) + ".";
    EXPECT_EQ(check(v, unsigned_token), JwtError::kAlgNone) << alg;
    EXPECT_EQ(check(v, hs256_token(kTestSecret, claims("mallory", kNow + 60), header)), JwtError::kAlgNone) << alg;
  }
}

TEST(Jwt, AlgorithmConfusionIsRefused) {
  // The classic attack: the server's RSA public key (which is public) used as an HMAC secret.
  std::string pem = rsa().public_pem();
  JwtVerifier v(public_key(rsa()), {});
  EXPECT_EQ(check(v, hs256_token(pem, claims("mallory", kNow + 60))), JwtError::kAlgMismatch);
  // And every other pairing of a token's alg with a key of another kind.
  JwtVerifier hs(secret_key(), {});
  EXPECT_EQ(check(hs, signed_token(rsa(), R"({"alg":"RS256"})", claims("m", kNow + 60))), JwtError::kAlgMismatch);
  EXPECT_EQ(check(hs, signed_token(ec(), R"({"alg":"ES256"})", claims("m", kNow + 60))), JwtError::kAlgMismatch);
  JwtVerifier es(public_key(ec()), {});
  EXPECT_EQ(check(es, signed_token(rsa(), R"({"alg":"RS256"})", claims("m", kNow + 60))), JwtError::kAlgMismatch);
  EXPECT_EQ(check(es, hs256_token(ec().public_pem(), claims("m", kNow + 60))), JwtError::kAlgMismatch);
  EXPECT_EQ(check(v, signed_token(ec(), R"({"alg":"ES256"})", claims("m", kNow + 60))), JwtError::kAlgMismatch);
  // An RS256 header over an ES256 signature, and other algorithms ringws does not take.
  EXPECT_EQ(check(v, signed_token(ec(), R"({"alg":"RS256"})", claims("m", kNow + 60))), JwtError::kBadSignature);
  for (std::string_view alg : {"HS384", "PS256", "RS512", "rs256", ""})
    EXPECT_EQ(
        check(v, signed_token(rsa(), std::string(R"({"alg":")") + std::string(alg) + R"("})", claims("m", kNow + 60))),
        JwtError::kAlgMismatch)
        << alg;
}

TEST(Jwt, ExpiryWithLeeway) {
  JwtVerifier v(secret_key(), {.leeway_s = 30});
  EXPECT_EQ(check(v, hs256_token(kTestSecret, claims("a", kNow - 29))), JwtError::kOk);
  EXPECT_EQ(check(v, hs256_token(kTestSecret, claims("a", kNow - 30))), JwtError::kExpired);
  EXPECT_EQ(check(v, hs256_token(kTestSecret, claims("a", kNow - 100000))), JwtError::kExpired);
  JwtVerifier strict(secret_key(), {.leeway_s = 0});
  EXPECT_EQ(check(strict, hs256_token(kTestSecret, claims("a", kNow))), JwtError::kExpired);
  EXPECT_EQ(check(strict, hs256_token(kTestSecret, claims("a", kNow + 1))), JwtError::kOk);
  // A fractional exp is rounded down.
  EXPECT_EQ(check(strict, hs256_token(kTestSecret, R"({"sub":"a","exp":1764270000.9})")), JwtError::kExpired);
}

TEST(Jwt, NotBeforeAndIssuedAtWithLeeway) {
  JwtVerifier v(secret_key(), {.leeway_s = 30});
  auto with = [&](std::string_view claim, int64_t t) {
    return hs256_token(kTestSecret,
                       claims("a", kNow + 600, std::string(",\"") + std::string(claim) + "\":" + std::to_string(t)));
  };
  EXPECT_EQ(check(v, with("nbf", kNow + 30)), JwtError::kOk);
  EXPECT_EQ(check(v, with("nbf", kNow + 31)), JwtError::kNotYetValid);
  EXPECT_EQ(check(v, with("nbf", kNow - 1000)), JwtError::kOk);
  EXPECT_EQ(check(v, with("iat", kNow + 30)), JwtError::kOk);
  EXPECT_EQ(check(v, with("iat", kNow + 31)), JwtError::kIssuedInFuture);
  EXPECT_EQ(check(v, with("iat", kNow - 1000)), JwtError::kOk);
}

TEST(Jwt, BadSignatures) {
  JwtVerifier v(secret_key(), {});
  std::string token = hs256_token(kTestSecret, claims("a", kNow + 60));
  EXPECT_EQ(check(v, hs256_token("another secret of at least thirty-two bytes", claims("a", kNow + 60))),
            JwtError::kBadSignature);
  EXPECT_EQ(check(v, token.substr(0, token.rfind('.') + 1)), JwtError::kBadSignature);  // empty signature
  std::string shorter = token.substr(0, token.size() - 4);  // 29 bytes of MAC: still canonical base64url
  EXPECT_EQ(check(v, shorter), JwtError::kBadSignature);
  // Flip one signature character to another canonical one.
  std::string flipped = token;
  size_t i = token.rfind('.') + 5;
  flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
  EXPECT_EQ(check(v, flipped), JwtError::kBadSignature);
  // The claims changed after signing.
  std::string other = hs256_token(kTestSecret, claims("admin", kNow + 60));
  std::string forged = token.substr(0, token.find('.')) +
                       other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                       token.substr(token.rfind('.'));
  EXPECT_EQ(check(v, forged), JwtError::kBadSignature);
}

TEST(Jwt, MalformedBase64UrlIsRefused) {
  JwtVerifier v(secret_key(), {});
  std::string token = hs256_token(kTestSecret, claims("a", kNow + 60));
  size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  auto replace_part = [&](int part, std::string_view text) {
    std::string h = token.substr(0, dot1), p = token.substr(dot1 + 1, dot2 - dot1 - 1), s = token.substr(dot2 + 1);
    (part == 0 ? h : part == 1 ? p : s) = text;
    return h + "." + p + "." + s;
  };
  // Padding, the standard alphabet, white space, a length of 1 mod 4, non-zero unused bits.
  std::string h = token.substr(0, dot1);
  for (int part = 0; part < 3; ++part) {
    std::string original = part == 0 ? h : part == 1 ? token.substr(dot1 + 1, dot2 - dot1 - 1) : token.substr(dot2 + 1);
    EXPECT_EQ(check(v, replace_part(part, original + "=")), JwtError::kBadBase64) << part;
    std::string one_mod_four = original;
    while (one_mod_four.size() % 4 != 1) one_mod_four += 'A';
    EXPECT_EQ(check(v, replace_part(part, one_mod_four)), JwtError::kBadBase64) << part;
    EXPECT_EQ(check(v, replace_part(part, "+" + original.substr(1))), JwtError::kBadBase64) << part;
    EXPECT_EQ(check(v, replace_part(part, original.substr(0, 2) + " " + original.substr(3))), JwtError::kBadBase64)
        << part;
  }
  // The signature of an HS256 token is 43 characters: its last carries 2 unused bits.
  std::string sig = token.substr(dot2 + 1);
  ASSERT_EQ(sig.size(), 43u);
  std::string bits = sig;
  bits.back() = 'B';  // 1: an unused bit set, unless the real character was 'B'
  if (sig.back() != 'B') {
    EXPECT_EQ(check(v, replace_part(2, bits)), JwtError::kBadBase64);
  }
}

TEST(Jwt, MalformedShapesAndOversizedTokens) {
  JwtVerifier v(secret_key(), {.max_token = 512});
  std::string token = hs256_token(kTestSecret, claims("a", kNow + 60));
  EXPECT_EQ(check(v, ""), JwtError::kMalformed);
  EXPECT_EQ(check(v, "abc"), JwtError::kMalformed);
  EXPECT_EQ(check(v, "abc.def"), JwtError::kMalformed);
  EXPECT_EQ(check(v, token + ".extra"), JwtError::kMalformed);
  EXPECT_EQ(check(v, token.substr(token.find('.'))), JwtError::kMalformed);  // empty header
  std::string big = hs256_token(kTestSecret, claims("a", kNow + 60, ",\"pad\":\"" + std::string(600, 'x') + "\""));
  EXPECT_EQ(check(v, big), JwtError::kTooLong);
  JwtVerifier roomy(secret_key(), {.max_token = 4096});
  EXPECT_EQ(check(roomy, big), JwtError::kOk);
}

TEST(Jwt, HeaderChecks) {
  JwtVerifier v(secret_key(), {});
  std::string ok_claims = claims("a", kNow + 60);
  for (std::string_view header : {R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":"HS256","crit":["exp"]})",
                                  R"({"alg":"HS256","typ":"JOSE+JSON"})", R"({"alg":"HS256","alg":"HS256"})", "[1]",
                                  "not json", R"({"alg":"HS256")"})
    EXPECT_EQ(check(v, hs256_token(kTestSecret, ok_claims, header)), JwtError::kBadHeader) << header;
  EXPECT_EQ(check(v, hs256_token(kTestSecret, ok_claims, R"({"alg":"HS256","typ":"jwt","kid":"x"})")), JwtError::kOk);
  EXPECT_EQ(check(v, hs256_token(kTestSecret, ok_claims, R"({"alg":"HS256","typ":"at+jwt"})")), JwtError::kOk);
  EXPECT_EQ(check(v, hs256_token(kTestSecret, ok_claims, R"({"alg":"HS256","typ":"application/at+JWT"})")),
            JwtError::kOk);
}

TEST(Jwt, ClaimTypesAndRequiredClaims) {
  JwtVerifier v(secret_key(), {});
  auto t = [&](std::string_view payload) { return check(v, hs256_token(kTestSecret, payload)); };
  EXPECT_EQ(t(R"({"sub":"a"})"), JwtError::kMissingExp);
  EXPECT_EQ(t(R"({"exp":1764270060})"), JwtError::kMissingSub);
  EXPECT_EQ(t(R"({"sub":"","exp":1764270060})"), JwtError::kMissingSub);
  EXPECT_EQ(t(R"({"sub":")" + std::string(256, 'u') + R"(","exp":1764270060})"), JwtError::kMissingSub);
  EXPECT_EQ(t(R"({"sub":")" + std::string(255, 'u') + R"(","exp":1764270060})"), JwtError::kOk);
  EXPECT_EQ(t(R"({"sub":7,"exp":1764270060})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":"1764270060"})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"exp":1})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","sub":"b","exp":1764270060})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"nbf":null})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"rooms":"lobby"})"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"rooms":[1]})"), JwtError::kBadPattern);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"rooms":["a*b"]})"), JwtError::kBadPattern);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"publish":["**"]})"), JwtError::kBadPattern);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"publish":[""]})"), JwtError::kBadPattern);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"publish":["has space"]})"), JwtError::kBadPattern);
  EXPECT_EQ(t(R"([{"sub":"a","exp":1764270060}])"), JwtError::kBadClaims);
  EXPECT_EQ(t(R"({"sub":"a","exp":1e300})"), JwtError::kOk);
  EXPECT_EQ(t(R"({"sub":"a","exp":18446744073709551615})"), JwtError::kOk);
  // Extremes are clamped, never overflowed (UBSan would say so), and never read as "absent".
  EXPECT_EQ(t(R"({"sub":"a","exp":9223372036854775807})"), JwtError::kOk);
  EXPECT_EQ(t(R"({"sub":"a","exp":-9223372036854775808})"), JwtError::kExpired);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"nbf":9223372036854775807})"), JwtError::kNotYetValid);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"nbf":-9223372036854775808})"), JwtError::kOk);
  EXPECT_EQ(t(R"({"sub":"a","exp":1764270060,"iat":-1e300})"), JwtError::kOk);
  std::string many = R"({"sub":"a","exp":1764270060,"rooms":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i ? "," : "") + "\"r" + std::to_string(i) + "\"";
  EXPECT_EQ(t(many + "]}"), JwtError::kBadPattern);
}

TEST(Jwt, KeyLoading) {
  std::string error;
  EXPECT_FALSE(JwtKey::from_secret("short", error));
  EXPECT_NE(error.find("32 bytes"), std::string::npos);
  // One trailing newline is not part of the secret.
  auto key = JwtKey::from_secret(std::string(kTestSecret) + "\n", error);
  ASSERT_TRUE(key);
  JwtVerifier v(std::move(key), {});
  EXPECT_EQ(check(v, hs256_token(kTestSecret, claims("a", kNow + 60))), JwtError::kOk);

  EXPECT_FALSE(JwtKey::from_public_pem(rsa().private_pem(), error));
  EXPECT_NE(error.find("private key"), std::string::npos);
  EXPECT_FALSE(JwtKey::from_public_pem("garbage", error));
  EXPECT_FALSE(JwtKey::from_public_pem(TestKeyPair::rsa(1024).public_pem(), error));
  EXPECT_NE(error.find("2048"), std::string::npos);
  EXPECT_FALSE(JwtKey::from_public_pem(TestKeyPair::ec("P-384").public_pem(), error));
  EXPECT_NE(error.find("P-256"), std::string::npos);
  auto rs = JwtKey::from_public_pem(rsa().public_pem(), error);
  ASSERT_TRUE(rs);
  auto copy = rs->clone();
  ASSERT_TRUE(copy);
  JwtVerifier cv(std::move(copy), {});
  EXPECT_EQ(check(cv, signed_token(rsa(), R"({"alg":"RS256"})", claims("a", kNow + 60))), JwtError::kOk);
}

TEST(Jwt, ErrorNames) {
  EXPECT_STREQ(jwt_error_name(JwtError::kExpired), "expired");
  EXPECT_STREQ(jwt_error_name(JwtError::kAlgNone), "alg_none");
  EXPECT_STREQ(jwt_error_name(JwtError::kIssuedInFuture), "issued_in_future");
}

TEST(Jwt, NeverReadsPastTheToken) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  char* base = static_cast<char*>(p);
  ASSERT_EQ(mprotect(base + page, page, PROT_NONE), 0);
  JwtVerifier v(secret_key(), {});
  std::string token = hs256_token(kTestSecret, claims("a", kNow + 60));
  for (size_t k = 0; k <= token.size(); ++k) {
    char* start = base + page - k;
    std::memcpy(start, token.data(), k);
    JwtClaims c;
    JwtError e = v.verify({start, k}, kNow, c);
    EXPECT_EQ(e == JwtError::kOk, k == token.size()) << k;
  }
  munmap(base, 2 * page);
}

TEST(JwtPattern, SuffixWildcard) {
  EXPECT_TRUE(pattern_matches("lobby", "lobby"));
  EXPECT_FALSE(pattern_matches("lobby", "lobby2"));
  EXPECT_FALSE(pattern_matches("lobby", "lobb"));
  EXPECT_TRUE(pattern_matches("team:*", "team:red"));
  EXPECT_TRUE(pattern_matches("team:*", "team:"));
  EXPECT_FALSE(pattern_matches("team:*", "team"));
  EXPECT_FALSE(pattern_matches("team:*", "xteam:red"));
  EXPECT_TRUE(pattern_matches("*", "anything"));
  EXPECT_TRUE(pattern_matches("*", ""));
  EXPECT_FALSE(pattern_matches("", "lobby"));
  std::vector<std::string> list = {"a", "news.*"};
  EXPECT_TRUE(any_pattern_matches(list, "news.sport"));
  EXPECT_TRUE(any_pattern_matches(list, "a"));
  EXPECT_FALSE(any_pattern_matches(list, "b"));
  EXPECT_FALSE(any_pattern_matches({}, "a"));
  EXPECT_TRUE(valid_pattern("news.*"));
  EXPECT_TRUE(valid_pattern("*"));
  EXPECT_FALSE(valid_pattern("*a"));
  EXPECT_FALSE(valid_pattern("a**"));
  EXPECT_FALSE(valid_pattern(""));
  EXPECT_FALSE(valid_pattern("a\tb"));
  EXPECT_FALSE(valid_pattern(std::string(257, 'a')));
}

}  // namespace
}  // namespace ringws
