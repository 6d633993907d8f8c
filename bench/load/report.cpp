#include "bench/load/report.h"

#include <arpa/inet.h>

#include <cinttypes>
#include <cstdio>

namespace ringws::load {

void Counters::add(const Counters& o) {
  attempted += o.attempted;
  opened += o.opened;
  open_now += o.open_now;
  open_at_stop += o.open_at_stop;
  failed += o.failed;
  failed_timeout += o.failed_timeout;
  failed_refused += o.failed_refused;
  failed_handshake += o.failed_handshake;
  closed_by_server += o.closed_by_server;
  closed_by_client += o.closed_by_client;
  protocol_errors += o.protocol_errors;
  msgs_sent += o.msgs_sent;
  msgs_received += o.msgs_received;
  bytes_sent += o.bytes_sent;
  bytes_received += o.bytes_received;
  pings_received += o.pings_received;
  bad_replies += o.bad_replies;
  broadcasts_received += o.broadcasts_received;
  results_received += o.results_received;
  measured += o.measured;
  http_503 += o.http_503;
  http_other += o.http_other;
  close_1008 += o.close_1008;
  close_1009 += o.close_1009;
  close_1011 += o.close_1011;
  close_1013 += o.close_1013;
  close_other += o.close_other;
  closed_no_frame += o.closed_no_frame;
  pings_sent += o.pings_sent;
  slow_bytes += o.slow_bytes;
  partial_sent += o.partial_sent;
  resets += o.resets;
  // Workers measure at the same time: the phase lasts as long as the longest one.
  if (o.measure_ns > measure_ns) measure_ns = o.measure_ns;
  if (o.connect_phase_ns > connect_phase_ns) connect_phase_ns = o.connect_phase_ns;
}

void Counters::count_close(uint16_t code) {
  switch (code) {
    case 1008: close_1008++; break;
    case 1009: close_1009++; break;
    case 1011: close_1011++; break;
    case 1013: close_1013++; break;
    default: close_other++; break;
  }
}

double msgs_per_second(const RunResult& r) {
  if (r.total.measure_ns == 0) return 0;
  uint64_t n = r.options.mode == Mode::kEcho ? r.total.measured : r.total.msgs_received;
  return double(n) / (double(r.total.measure_ns) / 1e9);
}

namespace {

class Json {
 public:
  void open(const char* key = nullptr) {
    sep(key);
    s_ += '{';
    first_ = true;
  }
  void close() {
    s_ += '}';
    first_ = false;
  }
  void open_array(const char* key) {
    sep(key);
    s_ += '[';
    first_ = true;
  }
  void close_array() {
    s_ += ']';
    first_ = false;
  }
  void str(const char* key, std::string_view v) {
    sep(key);
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        s_ += '\\';
        s_ += c;
      } else if (uint8_t(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", unsigned(uint8_t(c)));
        s_ += b;
      } else {
        s_ += c;
      }
    }
    s_ += '"';
  }
  void num(const char* key, uint64_t v) {
    sep(key);
    s_ += std::to_string(v);
  }
  void real(const char* key, double v) {
    sep(key);
    char b[40];
    std::snprintf(b, sizeof b, "%.6g", v);
    s_ += b;
  }
  void boolean(const char* key, bool v) {
    sep(key);
    s_ += v ? "true" : "false";
  }
  std::string take() { return std::move(s_); }

 private:
  void sep(const char* key) {
    if (!first_) s_ += ',';
    first_ = false;
    if (key) {
      s_ += '"';
      s_ += key;
      s_ += "\":";
    }
  }
  std::string s_;
  bool first_ = true;
};

void latency(Json& j, const char* key, const Histogram& h) {
  j.open(key);
  j.num("count", h.count());
  j.real("min_us", double(h.min()) / 1e3);
  j.real("mean_us", h.mean() / 1e3);
  j.real("p50_us", double(h.percentile(50)) / 1e3);
  j.real("p90_us", double(h.percentile(90)) / 1e3);
  j.real("p99_us", double(h.percentile(99)) / 1e3);
  j.real("p99_9_us", double(h.percentile(99.9)) / 1e3);
  j.real("max_us", double(h.max()) / 1e3);
  j.real("max_relative_error", Histogram::kMaxRelativeError);
  j.close();
}

}  // namespace

std::string to_json(const RunResult& r) {
  const Options& o = r.options;
  Json j;
  j.open();
  j.str("tool", "ringws-load");
  j.str("mode", mode_name(o.mode));
  j.open("settings");
  j.str("url", o.url_text);
  j.num("workers", o.workers);
  j.open_array("source_ips");
  for (in_addr a : o.source_ips) {
    char b[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, b, sizeof b);
    j.str(nullptr, b);
  }
  j.close_array();
  j.num("connections", o.connections);
  j.real("rate", o.rate);
  j.real("hold_s", o.hold);
  j.real("connect_timeout_s", o.connect_timeout);
  j.real("handshake_timeout_s", o.handshake_timeout);
  j.num("size", o.size);
  j.real("duration_s", o.duration);
  j.num("messages", o.messages);
  j.str("protocol", protocol_name(o.protocol));
  j.num("step", o.step);
  j.num("max", o.max_clients);
  j.num("concurrent", o.concurrent);
  j.num("padding", o.padding);
  j.num("samples", o.samples);
  j.real("percentile", o.percentile);
  j.real("limit_ms", o.limit_ms);
  j.real("step_timeout_s", o.step_timeout);
  j.num("max_message", o.max_message);
  j.boolean("tcp_nodelay", o.tcp_nodelay);
  j.boolean("phase_sync", o.phase_sync);
  j.num("payload", o.payload);
  j.real("interval_s", o.interval);
  j.boolean("send_partial", o.send_partial);
  j.num("tail", o.tail);
  j.num("rcvbuf", o.rcvbuf);
  j.close();
  const Counters& c = r.total;
  j.open("counts");
  j.num("attempted", c.attempted);
  j.num("opened", c.opened);
  j.num("open_at_stop", c.open_at_stop);
  j.num("failed", c.failed);
  j.num("failed_timeout", c.failed_timeout);
  j.num("failed_connect", c.failed_refused);
  j.num("failed_handshake", c.failed_handshake);
  j.num("closed_by_server", c.closed_by_server);
  j.num("closed_by_client", c.closed_by_client);
  j.num("protocol_errors", c.protocol_errors);
  j.num("messages_sent", c.msgs_sent);
  j.num("messages_received", c.msgs_received);
  j.num("bytes_sent", c.bytes_sent);
  j.num("bytes_received", c.bytes_received);
  j.num("pings_received", c.pings_received);
  j.num("bad_replies", c.bad_replies);
  j.num("broadcasts_received", c.broadcasts_received);
  j.num("broadcast_results_received", c.results_received);
  j.num("http_503", c.http_503);
  j.num("http_other", c.http_other);
  j.num("closed_no_frame", c.closed_no_frame);
  j.num("pings_sent", c.pings_sent);
  j.num("slow_bytes", c.slow_bytes);
  j.num("partial_sent", c.partial_sent);
  j.num("resets", c.resets);
  j.close();
  j.open("close_codes");  // the server's close frames, by code
  j.num("1008", c.close_1008);
  j.num("1009", c.close_1009);
  j.num("1011", c.close_1011);
  j.num("1013", c.close_1013);
  j.num("other", c.close_other);
  j.close();
  j.num("workers_reported", r.workers_reported);
  j.real("elapsed_s", r.elapsed_s);
  j.real("connect_phase_s", double(c.connect_phase_ns) / 1e9);
  j.real("measure_s", double(c.measure_ns) / 1e9);
  j.real("messages_per_s", msgs_per_second(r));
  double secs = double(c.measure_ns) / 1e9;
  j.real("handshakes_per_s", o.mode == Mode::kStorm && secs > 0 ? double(c.opened) / secs : 0.0);
  j.boolean("target_reached", r.target_reached);
  j.boolean("interrupted", r.interrupted);
  latency(j, "rtt", r.rtt);
  latency(j, "handshake", r.handshake);
  latency(j, "closed_after", r.closed_after);
  if (o.mode == Mode::kBroadcast) {
    j.open_array("steps");
    for (const BroadcastStep& s : r.steps) {
      j.open();
      j.num("clients", s.clients);
      j.num("samples", s.samples);
      j.num("timeouts", s.timeouts);
      j.real("p50_ms", double(s.p50_ns) / 1e6);
      j.real("p95_ms", double(s.p95_ns) / 1e6);
      j.real("percentile_ms", double(s.percentile_ns) / 1e6);
      j.real("max_ms", double(s.max_ns) / 1e6);
      j.boolean("passed", s.passed);
      j.num("delivered", s.delivered);
      j.num("results", s.results);
      j.close();
    }
    j.close_array();
    j.num("clients_passing", r.broadcast_capacity);
  }
  j.str("last_error", r.last_error);
  j.num("exit_code", uint64_t(r.exit_code));
  j.close();
  std::string s = j.take();
  s += '\n';
  return s;
}

std::string to_text(const RunResult& r) {
  const Options& o = r.options;
  const Counters& c = r.total;
  std::string s;
  char b[512];
  std::snprintf(b, sizeof b, "ringws-load %s %s: %u worker(s), %.1f s%s\n", mode_name(o.mode), o.url_text.c_str(),
                o.workers, r.elapsed_s, r.interrupted ? " (interrupted)" : "");
  s += b;
  std::snprintf(b, sizeof b,
                "  connections: attempted %" PRIu64 ", opened %" PRIu64 ", failed %" PRIu64 " (timeout %" PRIu64
                ", connect %" PRIu64 ", handshake %" PRIu64 "), closed by server %" PRIu64 ", open at stop %" PRIu64 "\n",
                c.attempted, c.opened, c.failed, c.failed_timeout, c.failed_refused, c.failed_handshake, c.closed_by_server,
                c.open_at_stop);
  s += b;
  if (r.handshake.count())
    s += "  handshake us: p50 " + std::to_string(r.handshake.percentile(50) / 1000) + "  p99 " +
         std::to_string(r.handshake.percentile(99) / 1000) + "  max " + std::to_string(r.handshake.max() / 1000) + "\n";
  if (o.mode == Mode::kEcho || o.mode == Mode::kBroadcast) {
    std::snprintf(b, sizeof b,
                  "  messages: sent %" PRIu64 ", received %" PRIu64 ", bad %" PRIu64 ", protocol errors %" PRIu64
                  ", pings %" PRIu64 "\n",
                  c.msgs_sent, c.msgs_received, c.bad_replies, c.protocol_errors, c.pings_received);
    s += b;
  }
  if (o.mode == Mode::kEcho) {
    std::snprintf(b, sizeof b, "  echo: %.0f msgs/s over %.2f s, %" PRIu64 " round trips\n", msgs_per_second(r),
                  double(c.measure_ns) / 1e9, c.measured);
    s += b;
  }
  if (r.rtt.count()) {
    std::snprintf(b, sizeof b, "  rtt us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (n=%" PRIu64 ", +-%.2f%%)\n",
                  double(r.rtt.percentile(50)) / 1e3, double(r.rtt.percentile(90)) / 1e3, double(r.rtt.percentile(99)) / 1e3,
                  double(r.rtt.percentile(99.9)) / 1e3, double(r.rtt.max()) / 1e3, r.rtt.count(),
                  Histogram::kMaxRelativeError * 100);
    s += b;
  }
  if (o.mode == Mode::kStorm) {
    double secs = double(c.measure_ns) / 1e9;
    std::snprintf(b, sizeof b, "  storm: %.0f handshakes/s, %" PRIu64 " failures\n", secs > 0 ? double(c.opened) / secs : 0.0,
                  c.failed);
    s += b;
  }
  if (o.mode == Mode::kBroadcast) {
    for (const BroadcastStep& st : r.steps) {
      std::snprintf(b, sizeof b, "  step %7" PRIu64 " clients: p50 %.1f ms  p%g %.1f ms  max %.1f ms  %s%s\n", st.clients,
                    double(st.p50_ns) / 1e6, o.percentile, double(st.percentile_ns) / 1e6, double(st.max_ns) / 1e6,
                    st.passed ? "pass" : "FAIL", st.timeouts ? " (timeouts)" : "");
      s += b;
    }
    std::snprintf(b, sizeof b, "  broadcast: %" PRIu64 " clients at p%g <= %g ms\n", r.broadcast_capacity, o.percentile,
                  o.limit_ms);
    s += b;
  }
  if (c.http_503 || c.http_other || c.close_1008 || c.close_1009 || c.close_1011 || c.close_1013 || c.close_other ||
      c.closed_no_frame) {
    std::snprintf(b, sizeof b,
                  "  server answers: http 503 %" PRIu64 ", other http %" PRIu64 "; close 1008 %" PRIu64 ", 1009 %" PRIu64
                  ", 1011 %" PRIu64 ", 1013 %" PRIu64 ", other %" PRIu64 ", no close frame %" PRIu64 "\n",
                  c.http_503, c.http_other, c.close_1008, c.close_1009, c.close_1011, c.close_1013, c.close_other,
                  c.closed_no_frame);
    s += b;
  }
  switch (o.mode) {
    case Mode::kPingFlood:
      std::snprintf(b, sizeof b, "  ping-flood: %" PRIu64 " pings of %" PRIu64 " B sent (%" PRIu64 " bytes), never read\n",
                    c.pings_sent, o.payload, c.bytes_sent);
      s += b;
      break;
    case Mode::kSlowloris:
      std::snprintf(b, sizeof b, "  slowloris: %" PRIu64 " bytes dribbled, one per %g s per connection\n", c.slow_bytes,
                    o.interval);
      s += b;
      break;
    case Mode::kConnectReset:
      std::snprintf(b, sizeof b, "  connect-reset: %" PRIu64 " connections reset%s\n", c.resets,
                    o.send_partial ? " after half a request" : "");
      s += b;
      break;
    case Mode::kHalfHandshake:
      std::snprintf(b, sizeof b, "  half-handshake: %" PRIu64 " requests held without their final CRLF\n",
                    c.partial_sent);
      s += b;
      break;
    case Mode::kPartialMessage:
      std::snprintf(b, sizeof b, "  partial-message: %" PRIu64 " frames of %" PRIu64 " B held %" PRIu64 " B short\n",
                    c.partial_sent, o.size, o.tail);
      s += b;
      break;
    default:
      break;
  }
  if (r.closed_after.count()) {
    std::snprintf(b, sizeof b, "  closed by the server after (s): min %.2f  p50 %.2f  max %.2f  (n=%" PRIu64 ")\n",
                  double(r.closed_after.min()) / 1e9, double(r.closed_after.percentile(50)) / 1e9,
                  double(r.closed_after.max()) / 1e9, r.closed_after.count());
    s += b;
  }
  if (!r.last_error.empty()) s += "  last error: " + r.last_error + "\n";
  return s;
}

}  // namespace ringws::load
