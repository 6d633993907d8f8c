// The pure parts of --auth jwt in the core: where a token rides in the request, the target
// without it, interned grants, identity rows, and dev-mode tokens.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

#include "core/auth/dev_token.h"
#include "core/auth/grants.h"
#include "core/auth/identity.h"
#include "core/auth/keys.h"
#include "core/auth/token_source.h"
#include "core/config.h"
#include "proto/http_request.h"
#include "proto/jwt.h"
#include "tests/unit/proto/jwt_signing.h"

namespace ringws {
namespace {

HttpRequest request(std::string_view target, std::initializer_list<std::string_view> protocols = {}) {
  HttpRequest r;
  r.target = target;
  for (std::string_view p : protocols) r.sec_websocket_protocol[r.sec_websocket_protocol_lines++] = p;
  return r;
}

TEST(TokenSource, FromTheQuery) {
  std::string scratch;
  TokenSource t = find_token(request("/ws?room=a&token=aaa.bbb.ccc&room=b"), scratch);
  EXPECT_EQ(t.where, TokenSource::kQuery);
  EXPECT_EQ(t.token, "aaa.bbb.ccc");
  EXPECT_EQ(t.subprotocol, "");
  t = find_token(request("/?token=aaa%2Ebbb%2eccc"), scratch);
  EXPECT_EQ(t.token, "aaa.bbb.ccc");
  t = find_token(request("/?token=a%2"), scratch);  // a cut escape stays as it is
  EXPECT_EQ(t.token, "a%2");
  t = find_token(request("/?tokens=x&xtoken=y&token"), scratch);  // "token" without '=' is empty
  EXPECT_EQ(t.where, TokenSource::kQuery);
  EXPECT_EQ(t.token, "");
  EXPECT_EQ(find_token(request("/ws?room=a"), scratch).where, TokenSource::kNone);
  EXPECT_EQ(find_token(request("/ws"), scratch).where, TokenSource::kNone);
}

TEST(TokenSource, FromSecWebSocketProtocol) {
  std::string scratch;
  TokenSource t = find_token(request("/", {"ringws.v1, bearer.aaa.bbb.ccc"}), scratch);
  EXPECT_EQ(t.where, TokenSource::kProtocol);
  EXPECT_EQ(t.token, "aaa.bbb.ccc");
  EXPECT_EQ(t.subprotocol, kSubprotocol);
  t = find_token(request("/", {"bearer.x.y.z", " chat ,\tringws.v1 "}), scratch);
  EXPECT_EQ(t.token, "x.y.z");
  EXPECT_EQ(t.subprotocol, kSubprotocol);
  t = find_token(request("/", {"chat", "bearer.x.y.z"}), scratch);
  EXPECT_EQ(t.subprotocol, "");  // only ringws.v1 is ever answered
  t = find_token(request("/", {"Bearer.x.y.z, RINGWS.V1"}), scratch);  // subprotocols are case-sensitive
  EXPECT_EQ(t.where, TokenSource::kNone);
  EXPECT_EQ(t.subprotocol, "");
}

TEST(TokenSource, TwoTokensAreAmbiguous) {
  std::string scratch;
  EXPECT_EQ(find_token(request("/?token=a&token=b"), scratch).where, TokenSource::kAmbiguous);
  EXPECT_EQ(find_token(request("/?token=a", {"bearer.a"}), scratch).where, TokenSource::kAmbiguous);
  EXPECT_EQ(find_token(request("/", {"bearer.a, bearer.b"}), scratch).where, TokenSource::kAmbiguous);
  EXPECT_EQ(find_token(request("/", {"bearer.a", "bearer.a"}), scratch).where, TokenSource::kAmbiguous);
  EXPECT_EQ(find_token(request("/", {"bearer.a", "bearer.a"}), scratch).token, "");
}

TEST(TokenSource, StripTokenKeepsEverythingElse) {
  std::string scratch;
  EXPECT_EQ(strip_token("/ws?room=a&token=t&room=b", scratch), "/ws?room=a&room=b");
  EXPECT_EQ(strip_token("/ws?token=t", scratch), "/ws");
  EXPECT_EQ(strip_token("/ws?token=t&token=u&x", scratch), "/ws?x");
  std::string_view untouched = "/ws?room=a&tokens=1";
  EXPECT_EQ(strip_token(untouched, scratch).data(), untouched.data());  // no copy without a token
  EXPECT_EQ(strip_token("/", scratch), "/");
}

TEST(Grants, InternedByContentAndCounted) {
  GrantTable t(8);
  std::vector<std::string> rooms = {"a", "team:*"}, publish = {"a"};
  uint32_t h1 = t.acquire(rooms, publish);
  uint32_t h2 = t.acquire(rooms, publish);
  EXPECT_EQ(h1, h2);
  EXPECT_EQ(t.size(), 1u);
  uint32_t h3 = t.acquire(publish, rooms);  // the same patterns in the other roles: another set
  EXPECT_NE(h3, h1);
  EXPECT_TRUE(t.get(h1)->may_join("team:x"));
  EXPECT_FALSE(t.get(h1)->may_publish("team:x"));
  t.release(h1);
  EXPECT_NE(t.get(h2), nullptr);
  t.release(h2);
  EXPECT_EQ(t.get(h2), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_NE(t.get(h3), nullptr);
  EXPECT_EQ(t.get(0), nullptr);
  t.release(0);
}

TEST(Identity, RowsAre24BytesWithShortUsersInline) {
  IdentityTable rows(4);
  Identity& r = rows.at(2);
  EXPECT_EQ(r.expires, 0u);
  EXPECT_EQ(r.user.view(), "");
  r.user.assign("fifteen-chars!!");
  EXPECT_EQ(r.user.view(), "fifteen-chars!!");
  r.user.assign(std::string(300, 'x'));
  EXPECT_EQ(r.user.view(), std::string(300, 'x'));
  r.grants = 7;
  r.expires = 99;
  EXPECT_EQ(rows.clear(2), 7u);
  EXPECT_EQ(r.user.view(), "");
  EXPECT_EQ(r.expires, 0u);
}

TEST(DevToken, MintsAVerifiableShortLivedTokenForValidNamesOnly) {
  const std::string secret(test::kTestSecret);
  std::string error;
  JwtVerifier v(JwtKey::from_secret(secret, error), {});
  JwtClaims c;
  std::string token = mint_dev_token(secret, "alice_1", 1764270000);
  ASSERT_EQ(v.verify(token, 1764270000, c), JwtError::kOk);
  EXPECT_EQ(c.sub, "alice_1");
  EXPECT_EQ(c.exp, 1764270000 + kDevTokenSeconds);
  EXPECT_EQ(c.rooms, (std::vector<std::string>{"*"}));
  EXPECT_EQ(c.publish, (std::vector<std::string>{"*"}));
  EXPECT_EQ(v.verify(token, 1764270000 + kDevTokenSeconds + 30, c), JwtError::kExpired);
  const std::string_view bad_names[] = {"", "has space", "quote\"", std::string_view("x\0y", 3), "a%20b"};
  for (std::string_view bad : bad_names)
    EXPECT_EQ(mint_dev_token(secret, bad, 1764270000), "") << bad;
  EXPECT_EQ(mint_dev_token(secret, std::string(33, 'n'), 1764270000), "");
  EXPECT_NE(mint_dev_token(secret, std::string(32, 'n'), 1764270000), "");
}


TEST(AuthKeys, FromAFileOrAnEnvironmentVariable) {
  const std::string secret = "a-secret-of-at-least-thirty-two-bytes!!";
  char path[] = "/tmp/ringws-key-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
  close(fd);
  Config c;
  c.auth = AuthMode::kJwt;
  c.jwt_secret_file = path;
  AuthKeys from_file;
  std::string error;
  ASSERT_TRUE(load_auth_keys(c, from_file, error)) << error;
  EXPECT_EQ(from_file.key->alg(), JwtAlg::kHS256);
  std::remove(path);

  // env:NAME: the same key from a variable (ECS hands secrets and parameters over this way).
  setenv("RINGWS_TEST_JWT_KEY", secret.c_str(), 1);
  c.jwt_secret_file = "env:RINGWS_TEST_JWT_KEY";
  AuthKeys from_env;
  ASSERT_TRUE(load_auth_keys(c, from_env, error)) << error;
  EXPECT_EQ(from_env.key->alg(), JwtAlg::kHS256);
  // A token signed with the secret verifies with both.
  std::string token = test::hs256_token(secret, R"({"sub":"a","exp":4000000000})");
  JwtClaims claims;
  EXPECT_EQ(JwtVerifier(from_env.key->clone(), {}).verify(token, 1, claims), JwtError::kOk);
  EXPECT_EQ(JwtVerifier(from_file.key->clone(), {}).verify(token, 1, claims), JwtError::kOk);

  // A variable that is not set, or empty, is a clear error naming it; so is a missing file.
  unsetenv("RINGWS_TEST_JWT_KEY");
  AuthKeys none;
  EXPECT_FALSE(load_auth_keys(c, none, error));
  EXPECT_NE(error.find("RINGWS_TEST_JWT_KEY"), std::string::npos) << error;
  setenv("RINGWS_TEST_JWT_KEY", "", 1);
  EXPECT_FALSE(load_auth_keys(c, none, error));
  unsetenv("RINGWS_TEST_JWT_KEY");
  c.jwt_secret_file = "/nonexistent/ringws-key";
  EXPECT_FALSE(load_auth_keys(c, none, error));
  EXPECT_NE(error.find("/nonexistent/ringws-key"), std::string::npos) << error;
}

}  // namespace
}  // namespace ringws
