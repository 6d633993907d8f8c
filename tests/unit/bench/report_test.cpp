// ringws-load's JSON and text summaries from a recorded run: every figure and setting is
// present, parses as JSON, and agrees with the counters and histogram it came from.
#include "bench/load/report.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

using namespace ringws::load;

namespace {

RunResult recorded_echo_run() {
  RunResult r;
  r.options.mode = Mode::kEcho;
  r.options.url_text = "ws://127.0.0.1:9000/\"quoted\"";
  r.options.connections = 100;
  r.options.workers = 2;
  r.options.size = 64;
  parse_source_ips("127.0.0.1-2", r.options.source_ips, r.last_error);
  r.total.attempted = r.total.opened = 100;
  r.total.failed = 0;
  r.total.msgs_sent = 20001;
  r.total.msgs_received = 20000;
  r.total.measured = 20000;
  r.total.measure_ns = 2'000'000'000;  // 2 s -> 10000 msgs/s
  for (uint64_t i = 1; i <= 20000; ++i) r.rtt.record(i * 1000);  // 1..20000 us
  r.handshake.record(150'000);
  r.elapsed_s = 2.5;
  r.workers_reported = 2;
  r.target_reached = true;
  r.last_error = "line\nbreak";
  return r;
}

}  // namespace

TEST(LoadReport, CountersAddAcrossWorkers) {
  Counters a, b;
  a.opened = 3;
  a.failed = 1;
  a.measure_ns = 5;
  a.broadcasts_received = 10;
  b.opened = 4;
  b.broadcasts_received = 5;
  b.results_received = 1;
  b.closed_by_server = 2;
  b.measure_ns = 9;
  a.add(b);
  EXPECT_EQ(a.opened, 7u);
  EXPECT_EQ(a.failed, 1u);
  EXPECT_EQ(a.closed_by_server, 2u);
  EXPECT_EQ(a.measure_ns, 9u);  // workers run side by side: the longest phase
  EXPECT_EQ(a.broadcasts_received, 15u);
  EXPECT_EQ(a.results_received, 1u);
}

TEST(LoadReport, JsonHoldsEveryFigureAndSetting) {
  RunResult r = recorded_echo_run();
  std::string text = to_json(r);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(doc["mode"]), "echo");
  EXPECT_EQ(std::string_view(doc["settings"]["url"]), r.options.url_text);  // escaped and back
  EXPECT_EQ(uint64_t(doc["settings"]["connections"]), 100u);
  EXPECT_EQ(uint64_t(doc["settings"]["workers"]), 2u);
  EXPECT_EQ(uint64_t(doc["settings"]["size"]), 64u);
  simdjson::dom::array ips = doc["settings"]["source_ips"];
  ASSERT_EQ(ips.size(), 2u);
  EXPECT_EQ(std::string_view(ips.at(1)), "127.0.0.2");
  EXPECT_EQ(uint64_t(doc["counts"]["opened"]), 100u);
  EXPECT_EQ(uint64_t(doc["counts"]["messages_received"]), 20000u);
  EXPECT_NEAR(double(doc["messages_per_s"]), 10000.0, 1e-3);
  EXPECT_NEAR(double(doc["rtt"]["p50_us"]), 10000.0, 10000.0 * Histogram::kMaxRelativeError);
  EXPECT_NEAR(double(doc["rtt"]["p99_us"]), 19800.0, 19800.0 * Histogram::kMaxRelativeError);
  EXPECT_NEAR(double(doc["rtt"]["max_us"]), 20000.0, 1e-6);
  EXPECT_EQ(uint64_t(doc["rtt"]["count"]), 20000u);
  EXPECT_EQ(bool(doc["target_reached"]), true);
  EXPECT_EQ(std::string_view(doc["last_error"]), "line\nbreak");
  for (const char* key : {"p90_us", "p99_9_us", "min_us", "mean_us", "max_relative_error"})
    EXPECT_EQ(doc["rtt"][key].error(), simdjson::SUCCESS) << key;
  for (const char* key : {"rate", "hold_s", "duration_s", "protocol", "step", "concurrent", "padding", "samples",
                          "percentile", "limit_ms", "connect_timeout_s", "handshake_timeout_s"})
    EXPECT_EQ(doc["settings"][key].error(), simdjson::SUCCESS) << key;
}

TEST(LoadReport, BroadcastStepsAndCapacity) {
  RunResult r;
  r.options.mode = Mode::kBroadcast;
  r.options.url_text = "ws://h/";
  r.steps.push_back({1000, 20, 0, 5'000'000, 9'000'000, 9'000'000, 12'000'000, true});
  r.steps.push_back({2000, 20, 1, 400'000'000, 700'000'000, 700'000'000, 800'000'000, false, 38'000, 19});
  r.broadcast_capacity = 1000;
  r.total.broadcasts_received = 20'000 + 38'000;
  r.total.results_received = 39;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string text = to_json(r);
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(uint64_t(doc["clients_passing"]), 1000u);
  simdjson::dom::array steps = doc["steps"];
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(bool(steps.at(1)["passed"]), false);
  EXPECT_NEAR(double(steps.at(1)["percentile_ms"]), 700.0, 1e-9);
  EXPECT_EQ(uint64_t(steps.at(1)["delivered"]), 38'000u);
  EXPECT_EQ(uint64_t(steps.at(1)["results"]), 19u);
  EXPECT_EQ(uint64_t(doc["counts"]["broadcasts_received"]), 58'000u);
  EXPECT_EQ(uint64_t(doc["counts"]["broadcast_results_received"]), 39u);
  EXPECT_EQ(bool(doc["settings"]["phase_sync"]), false);
  std::string human = to_text(r);
  EXPECT_NE(human.find("1000 clients at p95 <= 500 ms"), std::string::npos) << human;
  EXPECT_NE(human.find("FAIL"), std::string::npos) << human;
}

TEST(LoadReport, TextSummaryShowsCountsAndPercentiles) {
  std::string s = to_text(recorded_echo_run());
  EXPECT_NE(s.find("opened 100"), std::string::npos) << s;
  EXPECT_NE(s.find("10000 msgs/s"), std::string::npos) << s;
  EXPECT_NE(s.find("p99.9"), std::string::npos) << s;
}

TEST(LoadReport, CloseCodesAreCountedByCode) {
  Counters c;
  for (uint16_t code : {1008, 1009, 1009, 1011, 1013, 1013, 1013, 1000, 1005}) c.count_close(code);
  EXPECT_EQ(c.close_1008, 1u);
  EXPECT_EQ(c.close_1009, 2u);
  EXPECT_EQ(c.close_1011, 1u);
  EXPECT_EQ(c.close_1013, 3u);
  EXPECT_EQ(c.close_other, 2u);
  Counters d;
  d.close_1013 = 4;
  d.pings_sent = 10;
  d.http_503 = 2;
  c.add(d);
  EXPECT_EQ(c.close_1013, 7u);
  EXPECT_EQ(c.pings_sent, 10u);
  EXPECT_EQ(c.http_503, 2u);
}

TEST(LoadReport, HostileRunShowsWhatTheServerDid) {
  RunResult r;
  r.options.mode = Mode::kPartialMessage;
  r.options.url_text = "ws://h/";
  r.options.size = 1 << 20;
  r.options.tail = 1;
  r.total.attempted = r.total.opened = 200;
  r.total.partial_sent = 150;
  r.total.closed_by_server = 50;
  r.total.close_1013 = 48;
  r.total.closed_no_frame = 2;
  r.total.http_503 = 7;
  r.closed_after.record(2'000'000'000);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string text = to_json(r);
  ASSERT_EQ(parser.parse(text).get(doc), simdjson::SUCCESS) << text;
  EXPECT_EQ(std::string_view(doc["mode"]), "partial-message");
  EXPECT_EQ(uint64_t(doc["close_codes"]["1013"]), 48u);
  EXPECT_EQ(uint64_t(doc["close_codes"]["1008"]), 0u);
  EXPECT_EQ(uint64_t(doc["counts"]["partial_sent"]), 150u);
  EXPECT_EQ(uint64_t(doc["counts"]["closed_no_frame"]), 2u);
  EXPECT_EQ(uint64_t(doc["counts"]["http_503"]), 7u);
  EXPECT_EQ(uint64_t(doc["closed_after"]["count"]), 1u);
  EXPECT_EQ(uint64_t(doc["settings"]["tail"]), 1u);
  for (const char* key : {"payload", "interval_s", "send_partial", "rcvbuf"})
    EXPECT_EQ(doc["settings"][key].error(), simdjson::SUCCESS) << key;
  for (const char* key : {"pings_sent", "slow_bytes", "resets", "http_other"})
    EXPECT_EQ(doc["counts"][key].error(), simdjson::SUCCESS) << key;
  std::string human = to_text(r);
  EXPECT_NE(human.find("1013 48"), std::string::npos) << human;
  EXPECT_NE(human.find("150 frames of 1048576 B held 1 B short"), std::string::npos) << human;
  EXPECT_NE(human.find("closed by the server after"), std::string::npos) << human;
}
