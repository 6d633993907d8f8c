// The connection engine, driven by a fake backend with time as an input: the regressions of
// the engine issue (deadlines that fired early, pongs that grew without bound, ids that
// reached a slot's next occupant) and the send path (one send per connection per iteration).
#include "tests/unit/core/engine/engine_harness.h"

namespace ringws::test {
namespace {

std::string server_text(std::string_view s) {
  // An unmasked server text frame (payload < 126 bytes).
  std::string f;
  f += static_cast<char>(0x81);
  f += static_cast<char>(s.size());
  f += s;
  return f;
}

std::string server_pong(std::string_view s) {
  std::string f;
  f += static_cast<char>(0x8a);
  f += static_cast<char>(s.size());
  f += s;
  return f;
}

TEST(Engine, UpgradeAnswers101AndOpensTheApp) {
  EngineHarness h;
  ConnId id = h.open();
  ASSERT_EQ(h.backend->sends.size(), 1u);
  EXPECT_EQ(h.backend->sends[0].bytes.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
  EXPECT_NE(h.backend->sends[0].bytes.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos);
  ASSERT_EQ(h.app.opened.size(), 1u);
  EXPECT_EQ(h.app.opened[0], id);
  EXPECT_TRUE(h.engine->is_open(id));
}

TEST(Engine, FramesBehindTheRequestInTheSameReadAreHandled) {
  EngineHarness h;
  h.at(kStart);
  ConnId id = h.accept();
  Bytes hello = text("hello");
  std::string both = upgrade_request() + std::string(hello.begin(), hello.end());
  h.feed(id, both);
  h.end();
  ASSERT_EQ(h.app.messages.size(), 1u);
  EXPECT_EQ(h.app.messages[0], "hello");
}

TEST(Engine, FramesQueuedInOneIterationLeaveInOneSend) {
  EngineHarness h;
  ConnId id = h.open();
  size_t before = h.backend->sends.size();
  h.at(kStart + kSecond / 10);
  h.feed(id, concat({text("a"), text("b"), text("c")}));
  h.end();
  ASSERT_EQ(h.backend->sends.size(), before + 1);  // three echoes, one send
  EXPECT_EQ(h.backend->sends.back().iovecs, 3u);
  EXPECT_EQ(h.backend->sends.back().bytes, server_text("a") + server_text("b") + server_text("c"));
}

TEST(Engine, APendingSendCarriesWhatQueuedMeanwhileInTheNextOne) {
  EngineHarness h;
  ConnId id = h.open();
  h.backend->hold_sends = true;
  h.at(kStart + 1);
  h.feed(id, text("one"));
  h.end();
  size_t sends = h.backend->sends.size();
  h.at(kStart + 2);
  h.feed(id, concat({text("two"), text("three")}));
  h.end();
  EXPECT_EQ(h.backend->sends.size(), sends);  // one send at a time per connection
  h.backend->hold_sends = false;
  h.at(kStart + 3);
  h.complete_send(id, static_cast<int>(server_text("one").size()));
  h.end();
  ASSERT_EQ(h.backend->sends.size(), sends + 1);
  EXPECT_EQ(h.backend->sends.back().bytes, server_text("two") + server_text("three"));
}

TEST(Engine, APartialSendResumesAtTheRightFrameAndOffset) {
  EngineHarness h;
  ConnId id = h.open();
  h.backend->hold_sends = true;
  h.at(kStart + 1);
  h.feed(id, concat({text("abcdef"), text("ghij")}));
  h.end();
  std::string whole = server_text("abcdef") + server_text("ghij");
  ASSERT_EQ(h.backend->sends.back().bytes, whole);
  h.at(kStart + 2);
  h.complete_send(id, 5);  // the kernel took 5 bytes
  h.end();
  EXPECT_EQ(h.backend->sends.back().bytes, whole.substr(5));
}

TEST(Engine, AtMostOnePongWaitsAndItIsTheLatest) {
  EngineHarness h;
  ConnId id = h.open();
  h.backend->hold_sends = true;
  h.at(kStart + 1);
  h.feed(id, text("x"));  // a send is now pending: nothing more goes out until it completes
  h.end();
  h.at(kStart + 2);
  for (int i = 0; i < 1000; ++i) {
    char payload[16];
    std::snprintf(payload, sizeof payload, "p%d", i);
    h.feed(id, ping(payload));
  }
  h.end();
  h.backend->hold_sends = false;
  h.at(kStart + 3);
  h.complete_send(id, static_cast<int>(server_text("x").size()));
  h.end();
  // A client that pings without reading cannot grow the queue: one pong, for the last ping.
  EXPECT_EQ(h.backend->sends.back().bytes, server_pong("p999"));
  EXPECT_TRUE(h.engine->is_open(id));
}

TEST(Engine, ControlFramesCountAgainstTheBacklogCap) {
  Config c;
  c.max_backlog = 1024;
  EngineHarness h(c);
  ConnId id = h.open();
  h.backend->hold_sends = true;
  h.at(kStart + 1);
  h.feed(id, text(std::string(100, 'a')));  // in flight
  h.feed(id, text(std::string(900, 'b')));  // waiting: 902 bytes
  h.end();
  ASSERT_TRUE(h.engine->is_open(id));
  h.at(kStart + 2);
  h.feed(id, ping(std::string(125, 'p')));  // a 127-byte pong would pass 1024
  h.end();
  EXPECT_FALSE(h.engine->is_open(id));  // closed as a slow consumer
  ASSERT_EQ(h.app.closed.size(), 1u);
}

TEST(Engine, HandshakeDeadlineNeverFiresEarly) {
  Config c;
  c.handshake_timeout = 1;
  EngineHarness h(c);
  // Accepted 0.9 s into the reactor's second tick: a deadline of "now + 1 tick" would fire
  // 0.1 s later. Rounded up, it fires no sooner than one full second.
  uint64_t accepted = kStart + 9 * kSecond / 10;
  h.at(accepted);
  ConnId id = h.accept();
  h.feed(id, "GET / HTTP/1.1\r\nHost: x\r\n");
  h.end();
  h.tick(kStart + kSecond);                  // 0.1 s after accept
  h.tick(accepted + 95 * kSecond / 100);     // 0.95 s after accept
  EXPECT_FALSE(h.closed(id));
  h.tick(accepted + kSecond + kSecond / 10 + 1);  // past 2.0 s: the rounded deadline
  EXPECT_TRUE(h.closed(id));
}

TEST(Engine, ARequestCompletedAt60PercentOfTheTimeoutIsServed) {
  Config c;
  c.handshake_timeout = 1;
  EngineHarness h(c);
  for (int start_tenths = 0; start_tenths < 10; ++start_tenths) {
    uint64_t accepted = kStart + 10 * kSecond + start_tenths * kSecond / 10;
    h.at(accepted);
    ConnId id = h.accept();
    h.feed(id, "GET /healthz HTTP/1.1\r\n");
    h.end();
    h.tick(accepted + 3 * kSecond / 10);
    h.at(accepted + 6 * kSecond / 10);
    ASSERT_NE(h.engine->connection(id), nullptr) << start_tenths;
    EXPECT_EQ(h.engine->connection(id)->state, ConnState::kHandshake) << start_tenths;
    h.feed(id, "Host: x\r\n\r\n");
    h.end();
    EXPECT_EQ(h.sent_to(id).rfind("HTTP/1.1 200 OK", 0), 0u) << start_tenths;
  }
}

TEST(Engine, IdleDeadlineCountsWholeSecondsOfSilence) {
  Config c;
  c.ping_interval = 2;
  c.idle_timeout = 4;
  EngineHarness h(c);
  uint64_t t = kStart + 7 * kSecond / 10;
  ConnId id = h.open(t);
  h.tick(t + 3 * kSecond);
  EXPECT_TRUE(h.engine->is_open(id));  // pinged, not closed
  EXPECT_NE(h.sent_to(id).find(std::string("\x89\x00", 2)), std::string::npos);
  h.tick(t + 39 * kSecond / 10);
  EXPECT_TRUE(h.engine->is_open(id));  // 3.9 s of silence is not 4
  h.tick(t + 5 * kSecond + kSecond / 2);
  EXPECT_FALSE(h.engine->is_open(id));
}

TEST(Engine, AStaleIdNeverReachesTheSlotsNextOccupant) {
  EngineHarness h;
  ConnId first = h.open();
  h.at(kStart + 1);
  h.feed(first, close(1000));
  h.end();
  ASSERT_TRUE(h.closed(first));
  h.tick(kStart + 2);  // the slot is freed at the end of an iteration
  ConnId second = h.open(kStart + 3);
  ASSERT_EQ(second.index, first.index);  // the same slot, reused
  ASSERT_NE(second.generation, first.generation);
  size_t sends = h.backend->sends.size();
  h.at(kStart + 4);
  EXPECT_FALSE(h.engine->send(first, make_text_frame("not for you")));
  EXPECT_FALSE(h.engine->set_app_word(first, 7));
  uint32_t word = 1;
  EXPECT_FALSE(h.engine->app_word(first, word));
  EXPECT_TRUE(h.engine->app_word(second, word));
  EXPECT_EQ(word, 0u);
  h.end();
  EXPECT_EQ(h.backend->sends.size(), sends);
}

TEST(Engine, OnCloseRunsOncePerOpenAndTheIdIsNoLongerOpenThen) {
  EngineHarness h;
  ConnId id = h.open();
  h.at(kStart + 1);
  h.engine->set_app_word(id, 42);
  h.feed(id, close(1000));
  h.end();
  ASSERT_EQ(h.app.closed.size(), 1u);
  EXPECT_FALSE(h.engine->is_open(id));
  h.tick(kStart + 10 * kSecond);
  EXPECT_EQ(h.app.closed.size(), 1u);
}

TEST(Engine, OverTheMemoryMarkAPartialRequestGets503AndNoBuffer) {
  GovernorOptions g;
  g.limit_flag = 1ull << 40;  // far above what this test process measures
  EngineHarness h({}, g);
  h.governor.charge(1ll << 41);  // far past the mark until the next sample
  ASSERT_TRUE(h.governor.over_high_water());
  h.at(kStart);
  ConnId id = h.accept();
  h.feed(id, "GET / HTTP/1.1\r\nHo");
  h.end();
  EXPECT_EQ(h.sent_to(id).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_EQ(h.engine->connection(id)->handshake(), nullptr);
  EXPECT_EQ(h.governor.shed(ShedWhat::kConnection), 1u);
  // A whole plain GET is still answered: health checks and scrapes keep working.
  h.at(kStart + 1);
  ConnId health = h.accept();
  h.feed(health, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  h.end();
  EXPECT_EQ(h.sent_to(health).rfind("HTTP/1.1 200 OK", 0), 0u);
  // An upgrade that arrives whole is refused with 503.
  h.at(kStart + 2);
  ConnId upgrade = h.accept();
  h.feed(upgrade, upgrade_request());
  h.end();
  EXPECT_EQ(h.sent_to(upgrade).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_TRUE(h.app.opened.empty());
  h.governor.charge(-(1ll << 41));
}

TEST(Engine, APartialRequestThatCrossesTheMemoryMarkAfterTheAcceptIsCountedAsShed) {
  // Accepted below the mark, then its request needs a buffer above it: 503, and the shed
  // counter says so once (the hostile tests compare it with the 503s clients saw).
  GovernorOptions g;
  g.limit_flag = 1ull << 40;
  EngineHarness h({}, g);
  h.at(kStart);
  ConnId id = h.accept();
  h.end();
  h.governor.charge(1ll << 41);
  ASSERT_TRUE(h.governor.over_high_water());
  h.at(kStart + 1);
  h.feed(id, "GET / HTTP/1.1\r\nHo");
  h.end();
  EXPECT_EQ(h.sent_to(id).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_EQ(h.governor.shed(ShedWhat::kConnection), 1u);
  h.governor.charge(-(1ll << 41));
}

TEST(Engine, OverTheMemoryMarkAMessageThatNeedsABufferCloses1013) {
  GovernorOptions g;
  g.limit_flag = 1ull << 40;  // far above what this test process measures
  EngineHarness h({}, g);
  ConnId id = h.open();
  h.governor.charge(1ll << 41);
  ASSERT_TRUE(h.governor.over_high_water());
  h.at(kStart + 1);
  Bytes whole = text(std::string(100, 'z'));
  h.feed(id, Bytes(whole.begin(), whole.begin() + 20));  // a frame split across reads
  h.end();
  EXPECT_FALSE(h.engine->is_open(id));
  std::string out = h.sent_to(id);
  EXPECT_NE(out.find(std::string("\x88\x02\x03\xf5", 4)), std::string::npos);  // close 1013
  EXPECT_EQ(h.governor.shed(ShedWhat::kMessage), 1u);
  h.governor.charge(-(1ll << 41));
}

TEST(Engine, NearAFullTableOnlyPlainRequestsAreServed) {
  EngineHarness h;
  h.at(kStart);
  ConnId limited = h.accept(/*limited=*/true);
  h.feed(limited, upgrade_request());
  h.end();
  EXPECT_EQ(h.sent_to(limited).rfind("HTTP/1.1 503", 0), 0u);
  h.at(kStart + 1);
  ConnId health = h.accept(/*limited=*/true);
  h.feed(health, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  h.end();
  EXPECT_EQ(h.sent_to(health).rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST(Engine, MetricsAndTheDrainAreServedOnlyOnTheAdminListener) {
  EngineHarness h;
  h.at(kStart);
  ConnId public_metrics = h.accept();
  h.feed(public_metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ConnId admin_metrics = h.engine->on_accepted(h.next_fd++, nullptr, false, /*admin=*/true);
  h.feed(admin_metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ConnId admin_upgrade = h.engine->on_accepted(h.next_fd++, nullptr, false, /*admin=*/true);
  h.feed(admin_upgrade, upgrade_request());
  ConnId public_drain = h.accept();
  h.feed(public_drain, "POST /admin/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  h.end();
  EXPECT_EQ(h.sent_to(public_metrics).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(h.sent_to(admin_metrics).rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_NE(h.sent_to(admin_metrics).find("ringws_connections_open"), std::string::npos);
  EXPECT_EQ(h.sent_to(admin_upgrade).rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(h.sent_to(public_drain).rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_FALSE(h.state.drain_requested.load());
  h.at(kStart + 1);
  ConnId drain = h.engine->on_accepted(h.next_fd++, nullptr, false, /*admin=*/true);
  h.feed(drain, "POST /admin/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  h.end();
  EXPECT_EQ(h.sent_to(drain).rfind("HTTP/1.1 202 Accepted", 0), 0u);
  EXPECT_TRUE(h.state.drain_requested.load());
}

TEST(Engine, ConnectionsOfEveryPhaseCountAgainstMaxConnections) {
  Config c;
  c.max_connections = 2;
  EngineHarness h(c);
  h.at(kStart);
  ConnId a = h.accept();
  ConnId b = h.accept();  // two connections that have not sent a request yet
  ConnId third = h.accept();
  h.feed(third, upgrade_request());
  h.end();
  EXPECT_EQ(h.sent_to(third).rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_TRUE(h.app.opened.empty());
  (void)a;
  (void)b;
}

}  // namespace
}  // namespace ringws::test
