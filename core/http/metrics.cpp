// /metrics (Prometheus text) and CloudWatch Embedded Metric Format lines, from the
// reactors' counters. Reads are relaxed: a scrape is a snapshot to within a few events.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "core/close_reason.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"
#include "core/http/metrics.h"
#include "core/memory_governor.h"
#include "core/memory_metrics.h"
#include "core/json_text.h"
#include "core/server_state.h"

namespace ringws {

namespace {

struct Totals {
  uint64_t accepted = 0, upgraded = 0, closed = 0, starvations = 0, accept_errors = 0;
  uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, fanout = 0, sends = 0;
  uint64_t slots = 0, capacity = 0, websocket_open = 0;
  uint64_t closed_by[static_cast<size_t>(CloseReason::kCount)] = {};
  uint64_t refused_by[static_cast<size_t>(RefuseReason::kCount)] = {};
  uint64_t latency_buckets[LatencyHistogram::kBounds.size() + 1] = {};
  uint64_t latency_sum_ns = 0;
  uint64_t rate_refusals[RateLimiter::kClasses] = {};
  uint64_t auth_failures[16] = {};
  uint64_t token_refreshes = 0;
};

/// The auth_failures counter names: 0 no token, 1 to 14 a JwtError, 15 anything else.
const char* auth_failure_name(size_t i) {
  if (i == 0) return "missing_token";
  if (i < static_cast<size_t>(JwtError::kCount)) return jwt_error_name(static_cast<JwtError>(i));
  return "other";
}

Totals sum(const ServerState& state) {
  Totals t;
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  for (const Engine* r : state.engines) {
    const EngineStats& s = r->stats();
    t.accepted += get(s.accepted);
    t.upgraded += get(s.upgraded);
    t.closed += get(s.closed);
    t.starvations += get(s.buffer_starvations);
    t.accept_errors += get(s.accept_errors);
    t.messages_in += get(s.messages_in);
    t.messages_out += get(s.messages_out);
    t.bytes_in += get(s.bytes_in);
    t.bytes_out += get(s.bytes_out);
    t.fanout += get(s.fanout_deliveries);
    t.sends += get(s.sends);
    t.slots += get(s.slots_in_use);
    t.websocket_open += get(s.websocket_open);
    t.capacity += r->capacity();
    for (size_t i = 0; i < std::size(t.closed_by); ++i) t.closed_by[i] += get(s.closed_by[i]);
    for (size_t i = 0; i < std::size(t.refused_by); ++i) t.refused_by[i] += get(s.refused_by[i]);
    for (size_t i = 0; i < std::size(t.latency_buckets); ++i) t.latency_buckets[i] += s.delivery_latency.bucket(i);
    t.latency_sum_ns += s.delivery_latency.sum_ns();
    for (size_t i = 0; i < std::size(t.rate_refusals); ++i) t.rate_refusals[i] += get(s.rate_refusals[i]);
    for (size_t i = 0; i < std::size(t.auth_failures); ++i) t.auth_failures[i] += get(s.auth_failures[i]);
    t.token_refreshes += get(s.token_refreshes);
  }
  return t;
}

void metric(std::string& out, const char* name, const char* type, const char* help, uint64_t value) {
  char line[512];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
  out += line;
}

}  // namespace

uint64_t process_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long pages_total = 0, pages_resident = 0;
  int n = std::fscanf(f, "%lu %lu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? uint64_t(pages_resident) * uint64_t(sysconf(_SC_PAGESIZE)) : 0;
}

std::string render_prometheus(const ServerState& state) {
  Totals t = sum(state);
  std::string out;
  out.reserve(6000);
  metric(out, "ringws_connections_open", "gauge", "Open WebSocket connections.", t.websocket_open);
  metric(out, "ringws_connections_accepted_total", "counter", "TCP connections accepted.", t.accepted);
  metric(out, "ringws_connections_upgraded_total", "counter", "WebSocket handshakes completed.", t.upgraded);
  out += "# HELP ringws_connections_closed_total Connections closed, by reason.\n"
         "# TYPE ringws_connections_closed_total counter\n";
  char line[512];
  for (size_t i = 0; i < std::size(t.closed_by); ++i) {
    std::snprintf(line, sizeof line, "ringws_connections_closed_total{reason=\"%s\"} %" PRIu64 "\n",
                  close_reason_name(static_cast<CloseReason>(i)), t.closed_by[i]);
    out += line;
  }
  out += "# HELP ringws_handshakes_refused_total Requests that did not become WebSocket connections, by reason.\n"
         "# TYPE ringws_handshakes_refused_total counter\n";
  for (size_t i = 0; i < std::size(t.refused_by); ++i) {
    std::snprintf(line, sizeof line, "ringws_handshakes_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                  refuse_reason_name(static_cast<RefuseReason>(i)), t.refused_by[i]);
    out += line;
  }
  if (!state.engines.empty()) {
    out += "# HELP ringws_rate_limited_total Requests refused by a rate limit, by limit.\n"
           "# TYPE ringws_rate_limited_total counter\n";
    for (unsigned k = 0; k < RateLimiter::kClasses; ++k) {
      const RateSpec& spec = state.engines[0]->rate_spec(k);
      if (!spec.limited()) continue;
      std::snprintf(line, sizeof line, "ringws_rate_limited_total{limit=\"%s\"} %" PRIu64 "\n", spec.name,
                    t.rate_refusals[k]);
      out += line;
    }
  }
  if (state.config.auth == AuthMode::kJwt) {
    out += "# HELP ringws_auth_failures_total Tokens refused at the upgrade or on refresh, by reason.\n"
           "# TYPE ringws_auth_failures_total counter\n";
    for (size_t i = 0; i < std::size(t.auth_failures); ++i) {
      std::snprintf(line, sizeof line, "ringws_auth_failures_total{reason=\"%s\"} %" PRIu64 "\n",
                    auth_failure_name(i), t.auth_failures[i]);
      out += line;
    }
    metric(out, "ringws_token_refreshes_total", "counter", "Tokens replaced on open connections.", t.token_refreshes);
  }
  metric(out, "ringws_messages_received_total", "counter", "WebSocket messages received.", t.messages_in);
  metric(out, "ringws_messages_sent_total", "counter", "Frames queued for sending (messages, control frames, HTTP).",
         t.messages_out);
  metric(out, "ringws_bytes_received_total", "counter", "Bytes received.", t.bytes_in);
  metric(out, "ringws_bytes_sent_total", "counter", "Bytes sent.", t.bytes_out);
  metric(out, "ringws_send_operations_total", "counter",
         "Send operations (one carries every frame a connection had queued, up to a cap).", t.sends);
  metric(out, "ringws_fanout_deliveries_total", "counter", "Copies of shared frames queued by fan-out.", t.fanout);
  metric(out, "ringws_slow_consumers_total", "counter", "Connections closed for exceeding --max-backlog.",
         t.closed_by[static_cast<size_t>(CloseReason::kSlowConsumer)]);
  metric(out, "ringws_buffer_starvation_total", "counter", "Receives that found the provided buffer ring empty.",
         t.starvations);
  metric(out, "ringws_accept_errors_total", "counter", "Failed accepts (for example a full connection table).",
         t.accept_errors);
  metric(out, "ringws_slab_slots_in_use", "gauge", "Connection slots in use (all states).", t.slots);
  metric(out, "ringws_connection_capacity", "gauge", "Connections the reactors' tables can hold.", t.capacity);
  metric(out, "ringws_process_resident_memory_bytes", "gauge", "Resident set size of the process.", process_rss_bytes());
  metric(out, "ringws_draining", "gauge", "1 after SIGTERM/SIGINT while connections drain.",
         state.draining.load(std::memory_order_relaxed) ? 1 : 0);
  std::snprintf(line, sizeof line,
                "# HELP ringws_backend_info The backend the reactors run on, and why.\n"
                "# TYPE ringws_backend_info gauge\n"
                "ringws_backend_info{backend=\"%s\",reason=\"%s\"} 1\n",
                backend_name(state.backend), state.backend_reason.c_str());
  out += line;
  append_memory_metrics(state.governor, out);
  metric(out, "ringws_connections_in_progress", "gauge", "Accepted connections of every phase (HTTP and WebSocket).",
         static_cast<uint64_t>(std::max<int64_t>(0, state.connections.load(std::memory_order_relaxed))));
  if (state.app) state.app->render_metrics(out);
  out += "# HELP ringws_delivery_latency_seconds From a message's arrival to the completion of its last send.\n"
         "# TYPE ringws_delivery_latency_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += t.latency_buckets[i];
    std::snprintf(line, sizeof line, "ringws_delivery_latency_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                  LatencyHistogram::kBounds[i], cumulative);
    out += line;
  }
  cumulative += t.latency_buckets[LatencyHistogram::kBounds.size()];
  std::snprintf(line, sizeof line,
                "ringws_delivery_latency_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                "ringws_delivery_latency_seconds_sum %.9f\n"
                "ringws_delivery_latency_seconds_count %" PRIu64 "\n",
                cumulative, static_cast<double>(t.latency_sum_ns) * 1e-9, cumulative);
  out += line;
  return out;
}

std::string render_emf(const ServerState& state, uint64_t now_ms, EmfCounters& previous) {
  Totals t = sum(state);
  EmfCounters current;
  current.messages_in = t.messages_in;
  current.messages_out = t.messages_out;
  current.bytes_in = t.bytes_in;
  current.bytes_out = t.bytes_out;
  current.slow_consumers = t.closed_by[static_cast<size_t>(CloseReason::kSlowConsumer)];
  for (uint64_t v : t.refused_by) current.refused += v;
  // Dimensions: "Name=Value,..." from --emf-dimensions; the values go at the top level.
  // Both come from the command line, so they are escaped like any other outside text.
  std::string dim_names, dim_values;
  std::string_view list = state.config.emf_dimensions;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view pair = list.substr(0, comma);
    size_t eq = pair.find('=');
    if (eq != std::string_view::npos && eq > 0) {
      if (!dim_names.empty()) dim_names += ',';
      append_json_string(dim_names, pair.substr(0, eq));
      dim_values += ',';
      append_json_string(dim_values, pair.substr(0, eq));
      dim_values += ':';
      append_json_string(dim_values, pair.substr(eq + 1));
    }
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
  }
  // Mean delivery latency since the start (the histogram itself is on /metrics).
  uint64_t count = 0;
  for (uint64_t b : t.latency_buckets) count += b;
  double mean_ms = count ? static_cast<double>(t.latency_sum_ns) * 1e-6 / static_cast<double>(count) : 0.0;
  // Built in a string: the dimensions have no length limit, and a line cut at a fixed size
  // is not JSON (CloudWatch drops it).
  std::string out;
  out.reserve(768 + dim_names.size() + dim_values.size() + state.config.emf_namespace.size());
  out += "{\"_aws\":{\"Timestamp\":";
  out += std::to_string(now_ms);
  out += ",\"CloudWatchMetrics\":[{\"Namespace\":";
  append_json_string(out, state.config.emf_namespace);
  out += ",\"Dimensions\":[[";
  out += dim_names;
  out +=
      "]],\"Metrics\":[{\"Name\":\"ConnectionsOpen\",\"Unit\":\"Count\"},{\"Name\":\"MessagesReceived\",\"Unit\":\"Count\"},"
      "{\"Name\":\"MessagesSent\",\"Unit\":\"Count\"},{\"Name\":\"BytesReceived\",\"Unit\":\"Bytes\"},"
      "{\"Name\":\"BytesSent\",\"Unit\":\"Bytes\"},{\"Name\":\"SlowConsumersClosed\",\"Unit\":\"Count\"},"
      "{\"Name\":\"HandshakesRefused\",\"Unit\":\"Count\"},{\"Name\":\"DeliveryLatencyMean\",\"Unit\":\"Milliseconds\"},"
      "{\"Name\":\"ResidentMemory\",\"Unit\":\"Bytes\"}]}]}";
  out += dim_values;
  // Nine numbers and fixed names: at most about 400 bytes (the mean is below 2e13 ms).
  char values[512];
  std::snprintf(values, sizeof values,
                ",\"ConnectionsOpen\":%" PRIu64 ",\"MessagesReceived\":%" PRIu64 ",\"MessagesSent\":%" PRIu64
                ",\"BytesReceived\":%" PRIu64 ",\"BytesSent\":%" PRIu64 ",\"SlowConsumersClosed\":%" PRIu64
                ",\"HandshakesRefused\":%" PRIu64 ",\"DeliveryLatencyMean\":%.3f,\"ResidentMemory\":%" PRIu64 "}",
                t.websocket_open, current.messages_in - previous.messages_in,
                current.messages_out - previous.messages_out, current.bytes_in - previous.bytes_in,
                current.bytes_out - previous.bytes_out, current.slow_consumers - previous.slow_consumers,
                current.refused - previous.refused, mean_ms, process_rss_bytes());
  out += values;
  previous = current;
  return out;
}

}  // namespace ringws
