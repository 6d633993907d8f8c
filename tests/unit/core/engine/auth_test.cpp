// --auth jwt and the engine's rate limits, driven through a fake backend with time as an
// input: 401 at the upgrade, identities, the subprotocol answer, token_expiring and 4001
// exactly on their ticks, refresh, the message limit (errors, dropped pongs, 1008) and
// rate-limit records given back once buckets refill.
#include "tests/unit/core/engine/engine_harness.h"
#include "tests/unit/proto/jwt_signing.h"

namespace ringws::test {
namespace {

constexpr uint64_t kWallMs = 1764270000000ull;  // the wall clock at kStart
constexpr int64_t kWallS = 1764270000;

std::unique_ptr<JwtKey> test_key() {
  std::string error;
  return JwtKey::from_secret(kTestSecret, error);
}

Config jwt_config() {
  Config c;
  c.auth = AuthMode::kJwt;
  c.jwt_leeway = 0;
  c.token_grace = 30;
  c.ping_interval = 1000;  // keep keep-alive pings out of the way
  c.idle_timeout = 2000;
  c.message_rate = 0;
  c.message_burst = 1;
  return c;
}

std::string token_for(std::string_view sub, int64_t exp, std::string_view extra = {}) {
  return hs256_token(kTestSecret, claims(sub, exp, extra));
}

struct AuthHarness : EngineHarness {
  explicit AuthHarness(Config c = jwt_config()) : EngineHarness(std::move(c), {}, test_key()) {
    engine->set_wall_ms(kWallMs);
  }
  ConnId open_with(const std::string& path, const std::string& headers = "", uint64_t now = kStart) {
    at(now);
    ConnId id = accept();
    feed(id, upgrade_request(path, headers));
    end();
    return id;
  }
};

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

TEST(EngineAuth, NoTokenIs401AndTheAppNeverHearsOfIt) {
  AuthHarness h;
  ConnId id = h.open_with("/ws");
  std::string out = h.sent_to(id);
  EXPECT_EQ(status_line(out), "HTTP/1.1 401 Unauthorized");
  EXPECT_NE(out.find("WWW-Authenticate: Bearer"), std::string::npos);
  EXPECT_EQ(out.find("missing"), std::string::npos);  // the reason is for the log
  EXPECT_TRUE(h.app.opened.empty());
  EXPECT_EQ(h.engine->stats().refused_by[static_cast<size_t>(RefuseReason::kUnauthorized)].load(), 1u);
  EXPECT_EQ(h.engine->stats().auth_failures[0].load(), 1u);
}

TEST(EngineAuth, BadExpiredOrDoubledTokensAre401) {
  AuthHarness h;
  std::string good = token_for("alice", kWallS + 100);
  std::string expired = token_for("alice", kWallS);
  std::string forged = hs256_token("another secret, long enough for HS256 keys", claims("alice", kWallS + 100));
  for (const std::string& path : std::vector<std::string>{"/?token=" + expired, "/?token=" + forged, "/?token=garbage",
                                                          "/?token=" + good + "&token=" + good}) {
    ConnId id = h.open_with(path);
    EXPECT_EQ(status_line(h.sent_to(id)), "HTTP/1.1 401 Unauthorized") << path;
  }
  ConnId both = h.open_with("/?token=" + good, "Sec-WebSocket-Protocol: ringws.v1, bearer." + good + "\r\n");
  EXPECT_EQ(status_line(h.sent_to(both)), "HTTP/1.1 401 Unauthorized");
  EXPECT_TRUE(h.app.opened.empty());
  EXPECT_EQ(h.engine->stats().auth_failures[static_cast<size_t>(JwtError::kExpired)].load(), 1u);
  EXPECT_EQ(h.engine->stats().auth_failures[static_cast<size_t>(JwtError::kBadSignature)].load(), 1u);
  EXPECT_EQ(h.engine->stats().auth_failures[15].load(), 2u);  // two tokens, twice
}

TEST(EngineAuth, QueryTokenOpensWithItsIdentityAndTheAppNeverSeesTheToken) {
  AuthHarness h;
  std::string token = token_for("alice", kWallS + 100, R"(,"rooms":["lobby","team:*"],"publish":["lobby"])");
  ConnId id = h.open_with("/ws?room=lobby&token=" + token + "&x=1");
  EXPECT_EQ(status_line(h.sent_to(id)), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(h.sent_to(id).find("Sec-WebSocket-Protocol"), std::string::npos);
  ASSERT_EQ(h.app.opened.size(), 1u);
  EXPECT_EQ(h.app.targets[0], "/ws?room=lobby&x=1");
  EXPECT_EQ(h.engine->user(id), "alice");
  const Grants* g = h.engine->grants(id);
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->may_join("team:red"));
  EXPECT_FALSE(g->may_join("other"));
  EXPECT_TRUE(g->may_publish("lobby"));
  EXPECT_FALSE(g->may_publish("team:red"));
  // A percent-encoded token works too.
  std::string encoded = token;
  encoded.replace(encoded.find('.'), 1, "%2E");
  ConnId second = h.open_with("/?token=" + encoded);
  EXPECT_EQ(status_line(h.sent_to(second)), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(h.app.targets[1], "/");
}

TEST(EngineAuth, ProtocolTokenIsAnsweredWithRingwsV1AndNeverEchoed) {
  AuthHarness h;
  std::string token = token_for("bob", kWallS + 100);
  ConnId id = h.open_with("/ws", "Sec-WebSocket-Protocol: ringws.v1, bearer." + token + "\r\n");
  std::string out = h.sent_to(id);
  EXPECT_EQ(status_line(out), "HTTP/1.1 101 Switching Protocols");
  EXPECT_NE(out.find("\r\nSec-WebSocket-Protocol: ringws.v1\r\n"), std::string::npos);
  EXPECT_EQ(out.find(token), std::string::npos);
  EXPECT_EQ(h.engine->user(id), "bob");
  // On separate lines, in either order; without ringws.v1 nothing is named.
  ConnId lines =
      h.open_with("/", "Sec-WebSocket-Protocol: bearer." + token + "\r\nSec-WebSocket-Protocol: ringws.v1\r\n");
  EXPECT_NE(h.sent_to(lines).find("Sec-WebSocket-Protocol: ringws.v1"), std::string::npos);
  ConnId bare = h.open_with("/", "Sec-WebSocket-Protocol: bearer." + token + "\r\n");
  EXPECT_EQ(status_line(h.sent_to(bare)), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(h.sent_to(bare).find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(EngineAuth, WithoutAuthRingwsV1IsStillAnswered) {
  EngineHarness h;
  h.at(kStart);
  ConnId id = h.accept();
  h.feed(id, upgrade_request("/", "Sec-WebSocket-Protocol: chat, ringws.v1\r\n"));
  h.end();
  EXPECT_NE(h.sent_to(id).find("Sec-WebSocket-Protocol: ringws.v1\r\n"), std::string::npos);
  EXPECT_EQ(h.engine->user(id), "");
  EXPECT_EQ(h.engine->grants(id), nullptr);
  EXPECT_EQ(h.engine->refresh_token(id, "x"), Engine::Refresh::kAuthOff);
}

TEST(EngineAuth, TokenExpiringThenClose4001OnTheirTicks) {
  AuthHarness h;  // leeway 0, grace 30 s
  ConnId id = h.open_with("/?token=" + token_for("alice", kWallS + 100));
  size_t sent = h.sent_to(id).size();
  for (int t = 1; t < 70; ++t) h.tick(kStart + uint64_t(t) * kSecond);
  EXPECT_EQ(h.sent_to(id).size(), sent);  // nothing early
  h.tick(kStart + 70 * kSecond);
  std::string warning = h.sent_to(id).substr(sent);
  EXPECT_NE(warning.find(R"({"type":"token_expiring","expires_in_ms":30000})"), std::string::npos) << warning;
  for (int t = 71; t < 100; ++t) h.tick(kStart + uint64_t(t) * kSecond);
  EXPECT_TRUE(h.engine->is_open(id));
  h.tick(kStart + 100 * kSecond);
  EXPECT_FALSE(h.engine->is_open(id));
  std::string out = h.sent_to(id);
  EXPECT_NE(out.find(std::string("\x88\x0f\x0f\xa1token expired", 17)), std::string::npos);  // close 4001
  EXPECT_EQ(h.app.closed.size(), 1u);
}

TEST(EngineAuth, ExpiryIsRoundedUpNeverEarly) {
  AuthHarness h;
  // The connection opens 0.4 s into a second, with a token that runs out 10 s later.
  ConnId id = h.open_with("/?token=" + token_for("a", kWallS + 10), "", kStart + 400 * kMs);
  h.tick(kStart + 10 * kSecond);  // 9.6 s after the open: too early
  EXPECT_TRUE(h.engine->is_open(id));
  h.tick(kStart + 11 * kSecond);
  EXPECT_FALSE(h.engine->is_open(id));
}

TEST(EngineAuth, RefreshExtendsTheConnectionAndMayChangeGrantsButNotTheUser) {
  AuthHarness h;
  ConnId id = h.open_with("/?token=" + token_for("alice", kWallS + 100, R"(,"rooms":["a"])"));
  h.tick(kStart + 70 * kSecond);  // warned
  h.at(kStart + 80 * kSecond);
  EXPECT_EQ(h.engine->refresh_token(id, token_for("mallory", kWallS + 500)), Engine::Refresh::kOtherUser);
  EXPECT_EQ(h.engine->refresh_token(id, token_for("alice", kWallS + 50)), Engine::Refresh::kInvalid);  // expired
  EXPECT_EQ(h.engine->refresh_token(id, "junk"), Engine::Refresh::kInvalid);
  EXPECT_EQ(h.engine->refresh_token(id, token_for("alice", kWallS + 300, R"(,"rooms":["b"])")), Engine::Refresh::kOk);
  h.end();
  EXPECT_TRUE(h.engine->grants(id)->may_join("b"));
  EXPECT_FALSE(h.engine->grants(id)->may_join("a"));
  EXPECT_EQ(h.engine->stats().token_refreshes.load(), 1u);
  size_t sent = h.sent_to(id).size();
  for (int t = 81; t < 270; ++t) h.tick(kStart + uint64_t(t) * kSecond);
  EXPECT_TRUE(h.engine->is_open(id));
  EXPECT_EQ(h.sent_to(id).size(), sent);
  h.tick(kStart + 270 * kSecond);
  EXPECT_NE(h.sent_to(id).find("token_expiring", sent), std::string::npos);  // warned again for the new token
  h.tick(kStart + 300 * kSecond);
  EXPECT_FALSE(h.engine->is_open(id));
}

TEST(EngineAuth, GrantSetsAreInternedAndUsersInlineOrOnTheHeap) {
  AuthHarness h;
  std::string rooms = R"(,"rooms":["x*"],"publish":["x1"])";
  ConnId a = h.open_with("/?token=" + token_for("short", kWallS + 100, rooms));
  std::string long_name(200, 'u');
  ConnId b = h.open_with("/?token=" + token_for(long_name, kWallS + 100, rooms));
  EXPECT_EQ(h.engine->grants(a), h.engine->grants(b));  // one interned set
  EXPECT_EQ(h.engine->user(a), "short");
  EXPECT_EQ(h.engine->user(b), long_name);
}

// ---- the message limit ----------------------------------------------------------------

Config limited_config() {
  Config c;
  c.message_rate = 2;
  c.message_burst = 2;
  c.rate_limit_refusals = 3;
  return c;
}

TEST(EngineRate, OverTheMessageLimitTheClientGetsRateLimitedAndTheAppNothing) {
  EngineHarness h(limited_config());
  ConnId id = h.open();
  size_t sent = h.sent_to(id).size();
  h.at(kStart + kSecond);
  h.feed(id, concat({text("1"), text("2"), text("3")}));
  h.end();
  EXPECT_EQ(h.app.messages, (std::vector<std::string>{"1", "2"}));
  std::string out = h.sent_to(id).substr(sent);
  EXPECT_NE(out.find(R"("code":"rate_limited")"), std::string::npos);
  EXPECT_NE(out.find(R"("retry_after_ms":500})"), std::string::npos) << out;
  // Half a second later one token is back.
  h.at(kStart + kSecond + 500 * kMs);
  h.feed(id, text("4"));
  h.end();
  EXPECT_EQ(h.app.messages.back(), "4");
  EXPECT_EQ(h.engine->stats().rate_refusals[0].load(), 1u);
}

TEST(EngineRate, PingsOverTheLimitGetNoPongAndAFloodEndsIn1008) {
  EngineHarness h(limited_config());
  ConnId id = h.open();
  size_t sent = h.sent_to(id).size();
  h.at(kStart + kSecond);
  h.feed(id, concat({ping("a"), ping("b"), ping("c")}));
  h.end();
  std::string out = h.sent_to(id).substr(sent);
  EXPECT_NE(out.find(std::string("\x8a\x01", 2) + "b"), std::string::npos);  // the latest pending pong
  EXPECT_EQ(out.find(std::string("\x8a\x01", 2) + "c"), std::string::npos);  // over the limit: none
  EXPECT_TRUE(h.engine->is_open(id));
  // Asking again before retry_after_ms: x, y and z are answered, the 4th such (> 3) closes.
  h.at(kStart + kSecond + 1);
  h.feed(id, concat({text("x"), text("y"), text("z")}));
  h.end();
  EXPECT_TRUE(h.engine->is_open(id));
  h.at(kStart + kSecond + 2);
  h.feed(id, text("w"));
  h.end();
  EXPECT_FALSE(h.engine->is_open(id));
  out = h.sent_to(id);
  EXPECT_NE(out.find("\x88\x0c\x03\xf0rate limit"), std::string::npos);  // close 1008
  EXPECT_EQ(h.engine->stats().rate_refusals[0].load(), 5u);  // ping c, then x, y, z and w
}

TEST(EngineRate, RecordsAreLentWhileActiveAndGivenBackOnceBucketsRefill) {
  Config c;
  c.message_rate = 10;
  c.message_burst = 10;
  EngineHarness h(c);
  ConnId a = h.open();
  ConnId b = h.open();
  EXPECT_EQ(h.engine->connection(a)->rate_handle(), 0u);
  h.at(kStart + kSecond);
  h.feed(a, text("hi"));
  h.end();
  EXPECT_NE(h.engine->connection(a)->rate_handle(), 0u);
  EXPECT_EQ(h.engine->connection(b)->rate_handle(), 0u);  // idle: nothing lent
  h.tick(kStart + 2 * kSecond);  // 100 ms refills one token: returned at the next second's sweep
  EXPECT_EQ(h.engine->connection(a)->rate_handle(), 0u);
  EXPECT_EQ(h.app.messages.size(), 1u);
}

TEST(EngineRate, AppClassesShareTheConnectionsRecordAndRefusalCount) {
  Config c;
  c.rate_limit_refusals = 1;
  EngineHarness h(c);
  h.engine->define_rate(1, {1, 1, "publish"});
  ConnId id = h.open();
  h.at(kStart + kSecond);
  EXPECT_TRUE(h.engine->take_token(id, 1).allowed);
  Engine::RateResult r = h.engine->take_token(id, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_FALSE(r.closed);
  EXPECT_EQ(r.retry_after_ms, 1000u);
  r = h.engine->take_token(id, 1);  // too early: ignored once, not more than 1
  EXPECT_FALSE(r.closed);
  r = h.engine->take_token(id, 1);
  EXPECT_TRUE(r.closed);
  h.end();
  EXPECT_FALSE(h.engine->is_open(id));
  EXPECT_TRUE(h.engine->take_token(id, 1).closed);  // a closed id is refused
}

}  // namespace
}  // namespace ringws::test
