#include "bench/load/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench/load/attack.h"
#include "bench/load/client_engine.h"

namespace ringws::load {

volatile sig_atomic_t g_stop = 0;

namespace {

uint64_t secs_to_ns(double s) { return uint64_t(s * 1e9); }

void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Finds "key": <digits> in a flat JSON text; false if absent. Enough for the messages this
// tool itself builds (numbers it wrote, passed back byte for byte by the server).
bool json_uint(std::string_view text, std::string_view key, uint64_t& out) {
  size_t at = 0;
  for (;;) {  // "key" followed by optional spaces and a colon
    at = text.find(key, at);
    if (at == std::string_view::npos) return false;
    size_t end = at + key.size();
    if (at > 0 && text[at - 1] == '"' && end < text.size() && text[end] == '"') {
      at = end + 1;
      break;
    }
    at = end;
  }
  while (at < text.size() && (text[at] == ' ' || text[at] == ':')) ++at;
  uint64_t v = 0;
  size_t digits = 0;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9' && digits < 20) {
    v = v * 10 + uint64_t(text[at++] - '0');
    ++digits;
  }
  if (!digits) return false;
  out = v;
  return true;
}

// The value of the top-level "type" string, or empty.
std::string_view json_type(std::string_view text) {
  size_t at = text.find("\"type\"");
  if (at == std::string_view::npos) return {};
  at += 6;
  while (at < text.size() && (text[at] == ' ' || text[at] == ':')) ++at;
  if (at >= text.size() || text[at] != '"') return {};
  size_t end = text.find('"', at + 1);
  if (end == std::string_view::npos) return {};
  return text.substr(at + 1, end - at - 1);
}

// The modes over the client engine: what to send, what replies mean, when a phase ends,
// and the reports to the parent.
class Worker final : public ClientEngine {
 public:
  Worker(const Options& o, const WorkerSpec& spec, int report_fd)
      : ClientEngine(o, spec.index), spec_(spec), report_fd_(report_fd) {}

  int run_forked();

 private:
  void on_open(uint32_t slot) override;
  void on_message(uint32_t slot, WsOp op, std::span<const uint8_t> payload) override;
  void on_watched_fd() override {
    if (!read_commands()) parent_gone_ = true;
  }
  int run_broadcast();
  void echo_send(uint32_t slot);
  void broadcast_send(uint64_t id);
  bool read_commands();  // false when the parent is gone or said stop
  void event(EventKind kind, uint64_t id, uint64_t t);
  void report(ReportKind kind, EventKind ev = EventKind::kNone, uint64_t id = 0, uint64_t t = 0);

  WorkerSpec spec_;
  int report_fd_ = -1;
  Histogram rtt_;
  bool measuring_ = false;
  bool sending_ = false;  // echo: send new messages
  // broadcast: receipts per broadcast id until this worker's clients all have it.
  std::unordered_map<uint64_t, uint64_t> receipts_;
  uint64_t target_ = 0;
  bool awaiting_ready_ = false;
  bool parent_gone_ = false;
  bool go_ = false;  // echo with --phase-sync: the parent said start
  std::string control_buf_;
};

void Worker::on_open(uint32_t slot) {
  if (o_.mode == Mode::kStorm) start_close(slot);
  else if (o_.mode == Mode::kEcho && sending_ && o_.rate == 0) echo_send(slot);
}

void Worker::echo_send(uint32_t slot) {
  ClientConn& c = conn(slot);
  if (c.state != ConnState::kOpen) return;
  uint64_t seq = c.seq++;
  if (o_.protocol == Protocol::kRaw) {
    scratch_.assign(o_.size, 'x');
    put_u64(reinterpret_cast<uint8_t*>(scratch_.data()), seq);
    put_u64(reinterpret_cast<uint8_t*>(scratch_.data()) + 8, now_ns());
    send_frame(slot, WsOp::kBinary, scratch_);
  } else {
    scratch_ = "{\"type\":\"echo\",\"payload\":{\"seq\":" + std::to_string(seq) + ",\"sent\":" + std::to_string(now_ns()) +
               ",\"pad\":\"";
    size_t want = o_.size > scratch_.size() + 3 ? o_.size - scratch_.size() - 3 : 0;
    scratch_.append(want, 'x').append("\"}}");
    send_frame(slot, WsOp::kText, scratch_);
  }
  c_.msgs_sent++;
}

void Worker::on_message(uint32_t slot, WsOp op, std::span<const uint8_t> p) {
  c_.msgs_received++;
  std::string_view text(reinterpret_cast<const char*>(p.data()), p.size());
  if (o_.mode == Mode::kEcho) {
    uint64_t sent = 0;
    bool ok;
    if (o_.protocol == Protocol::kRaw) {
      ok = op == WsOp::kBinary && p.size() == o_.size && (p.size() == 16 || p.back() == 'x');
      if (ok) sent = get_u64(p.data() + 8);
    } else {
      ok = json_type(text) == "echo" && json_uint(text, "sent", sent);
    }
    if (!ok || sent > now_ || sent == 0) {
      c_.bad_replies++;
      last_error_ = "echo reply differs from what was sent";
      return;
    }
    if (measuring_) {
      rtt_.record(now_ - sent);
      c_.measured++;
    }
    if (sending_ && o_.rate == 0) echo_send(slot);
    return;
  }
  if (o_.mode == Mode::kBroadcast) {
    std::string_view type = json_type(text);
    if (type == "broadcast") c_.broadcasts_received++;
    else if (type == "broadcastResult") c_.results_received++;
    uint64_t id = 0;
    if (!json_uint(text, "id", id)) return;
    if (type == "broadcast") {
      // Done here once every client of this worker has it; the parent waits for all workers.
      uint64_t& n = receipts_[id];
      if (++n >= c_.open_now) {
        receipts_.erase(id);
        // A fresh clock, not the loop's cached one: the deliveries can be read in the very
        // iteration that sent the broadcast (after its send time was taken).
        event(EventKind::kLocalDone, id, now_ns());
      } else if (receipts_.size() > 4096) {
        receipts_.erase(receipts_.begin());  // bounded: ids that can no longer complete
      }
    } else if (type == "broadcastResult") {
      event(EventKind::kResult, id, now_ns());
    }
  }
}

void Worker::event(EventKind kind, uint64_t id, uint64_t t) { report(ReportKind::kEvent, kind, id, t); }

void Worker::report(ReportKind kind, EventKind ev, uint64_t id, uint64_t t) {
  const Histogram* finals[kFinalHistograms] = {&rtt_, &handshake_, &closed_after_};
  write_report(report_fd_, kind, spec_.index, c_, last_error_, kind == ReportKind::kFinal ? finals : nullptr, ev, id, t);
}

int Worker::run_forked() {
  if (o_.mode == Mode::kBroadcast) return run_broadcast();
  const uint64_t t_start = now_ = now_ns();
  uint64_t last_report = t_start;
  bool ready_sent = false;
  if (spec_.connections > max_fds_ && o_.mode != Mode::kStorm) {
    last_error_ = "this worker's share exceeds its open-files limit: use more --workers";
    c_.failed = spec_.connections;
    report(ReportKind::kReady);
    report(ReportKind::kFinal);
    return 1;
  }
  uint64_t t_measure = 0, t_end_sending = 0;
  const bool echo = o_.mode == Mode::kEcho, storm = o_.mode == Mode::kStorm;
  const bool sync = echo && o_.phase_sync;
  if (sync && !watch_fd(spec_.control_fd)) return 1;
  bool echo_started = false;
  uint64_t echo_sent_by_rate = 0;
  size_t rr = 0;
  // Bound every phase: a worker stops by itself even if the parent never signals it.
  const uint64_t hard_end =
      t_start + secs_to_ns(o_.connect_timeout + o_.hold + o_.duration + 60 + (sync ? 2 * o_.sync_timeout : 0));
  if (storm) {
    measuring_ = true;
    t_measure = t_start;
  }
  while (!g_stop && !parent_gone_ && now_ < hard_end) {
    // Start connections at this worker's share of the rate (echo: as fast as allowed).
    double elapsed = double(now_ - t_start) / 1e9;
    if (storm) {
      if (now_ - t_start < secs_to_ns(o_.duration)) {
        uint64_t due = uint64_t(elapsed * spec_.rate) + 1;
        while (c_.attempted < due && !g_stop) {
          if (connecting_ + c_.open_now >= max_fds_) {
            // Skip, and count it: a server slower than --rate is what storm measures.
            c_.attempted++;
            c_.failed++;
            c_.failed_refused++;
            last_error_ = "open-files limit reached with connections in flight";
            continue;
          }
          start_connection();
        }
      } else if (connecting_ == 0 && c_.open_now == 0) {
        break;
      } else if (!t_end_sending) {
        t_end_sending = now_;
        c_.measure_ns = now_ - t_measure;
      } else if (now_ - t_end_sending > secs_to_ns(o_.handshake_timeout + 5)) {
        break;
      }
    } else if (c_.attempted < spec_.connections) {
      uint64_t due = echo ? spec_.connections : uint64_t(elapsed * spec_.rate) + 1;
      uint64_t cap = echo ? 512 : UINT64_MAX;  // echo: bounded handshakes in flight
      while (c_.attempted < std::min(due, spec_.connections) && connecting_ < cap) start_connection();
    }
    if (!storm && !ready_sent && c_.opened + c_.failed >= spec_.connections) {
      ready_sent = true;
      c_.connect_phase_ns = now_ - t_start;
      report(ReportKind::kReady);
    }
    // With --phase-sync the measured phase waits for the parent's go-ahead.
    if (echo && ready_sent && !echo_started && (!sync || go_)) {
      echo_started = measuring_ = sending_ = true;
      t_measure = now_;
      if (o_.rate == 0)
        for (uint32_t s : std::vector<uint32_t>(open_list_)) echo_send(s);
    }
    if (echo && sending_) {
      if (o_.rate > 0 && !open_list_.empty()) {
        uint64_t due = uint64_t(double(now_ - t_measure) / 1e9 * spec_.rate);
        uint64_t budget = 20000;  // per loop turn, so a slow server cannot make this spin
        while (echo_sent_by_rate < due && budget-- && !open_list_.empty()) {
          echo_send(open_list_[rr++ % open_list_.size()]);
          echo_sent_by_rate++;
        }
      }
      bool done = (now_ - t_measure >= secs_to_ns(o_.duration)) || (spec_.messages && c_.measured >= spec_.messages) ||
                  open_list_.empty();
      if (done) {
        c_.measure_ns = now_ - t_measure;
        measuring_ = sending_ = false;
        if (!sync) break;
        // Hold the connections (replies still in flight are read, not measured) until the
        // parent says stop, so that the script samples the server before any close.
        report(ReportKind::kMeasured);
      }
    }
    if (now_ - last_report >= 250'000'000) {
      last_report = now_;
      if (echo && measuring_) c_.measure_ns = now_ - t_measure;
      report(ReportKind::kProgress);
    }
    poll_once(echo && o_.rate > 0 ? 1 : (storm ? 1 : 10));
  }
  if (storm && !t_end_sending) c_.measure_ns = now_ - t_measure;
  if (echo && measuring_) c_.measure_ns = now_ - t_measure;
  measuring_ = false;
  if (!ready_sent && !storm) {
    c_.connect_phase_ns = now_ - t_start;
    report(ReportKind::kReady);
  }
  sending_ = false;
  close_all_and_drain(2.0);
  report(ReportKind::kFinal);
  return 0;
}

void Worker::broadcast_send(uint64_t id) {
  if (open_list_.empty()) return;
  uint32_t slot = open_list_[rng_.next() % open_list_.size()];
  uint64_t sent = now_ns();
  scratch_ = "{\"type\":\"broadcast\",\"payload\":{\"id\":" + std::to_string(id) + ",\"sent\":" + std::to_string(sent) +
             ",\"padding\":\"";
  scratch_.append(o_.padding, 'x').append("\"}}");
  c_.msgs_sent++;
  event(EventKind::kSent, id, sent);
  send_frame(slot, WsOp::kText, scratch_);
}

bool Worker::read_commands() {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(spec_.control_fd, buf, sizeof buf);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    control_buf_.append(buf, size_t(n));
    while (control_buf_.size() >= sizeof(Command)) {
      Command cmd;
      std::memcpy(&cmd, control_buf_.data(), sizeof cmd);
      control_buf_.erase(0, sizeof cmd);
      if (cmd.kind == CommandKind::kConnect) {
        target_ = std::min<uint64_t>(cmd.value, max_fds_);
        awaiting_ready_ = true;
      } else if (cmd.kind == CommandKind::kSend) {
        broadcast_send(cmd.value);
      } else if (cmd.kind == CommandKind::kReport) {
        report(ReportKind::kReady);
      } else if (cmd.kind == CommandKind::kGo) {
        go_ = true;
      } else if (cmd.kind == CommandKind::kStop) {
        return false;
      }
    }
  }
}

int Worker::run_broadcast() {
  const uint64_t t_start = now_ = now_ns();
  if (!watch_fd(spec_.control_fd)) return 1;
  uint64_t last_report = t_start, t_phase = t_start, base = 0;
  uint64_t last_target = 0;
  // Runs until the parent says stop or goes away (its pipe ends), or on a signal.
  while (!g_stop && !parent_gone_) {
    if (target_ != last_target) {
      last_target = target_;
      t_phase = now_;
      base = c_.attempted;
    }
    uint64_t due = base + uint64_t(double(now_ - t_phase) / 1e9 * spec_.rate) + 1;
    while (c_.open_now + connecting_ < target_ && c_.attempted < due && connecting_ < 1000) start_connection();
    if (awaiting_ready_ && c_.open_now >= target_) {
      awaiting_ready_ = false;
      c_.connect_phase_ns = now_ - t_start;
      report(ReportKind::kReady);
    }
    if (now_ - last_report >= 250'000'000) {
      last_report = now_;
      report(ReportKind::kProgress);
    }
    poll_once(1);
  }
  close_all_and_drain(2.0);
  report(ReportKind::kFinal);
  return 0;
}

}  // namespace

void write_report(int fd, ReportKind kind, uint32_t worker, const Counters& counters, const std::string& last_error,
                  const Histogram* const* finals, EventKind ev, uint64_t id, uint64_t t) {
  if (fd < 0) return;
  ReportHeader h;
  h.kind = kind;
  h.event = ev;
  h.event_id = id;
  h.event_ns = t;
  h.worker = worker;
  std::string err = last_error.substr(0, 512);
  h.error_len = uint32_t(err.size());
  h.counters = counters;
  std::string buf(reinterpret_cast<const char*>(&h), sizeof h);
  buf += err;
  if (kind == ReportKind::kFinal) {
    static const Histogram kEmpty;
    for (int i = 0; i < kFinalHistograms; ++i) {
      const Histogram* hist = finals && finals[i] ? finals[i] : &kEmpty;
      buf.append(reinterpret_cast<const char*>(hist->counts().data()), sizeof(uint64_t) * Histogram::kBuckets);
      uint64_t tail[3] = {hist->min(), hist->max(), hist->sum()};
      buf.append(reinterpret_cast<const char*>(tail), sizeof tail);
    }
  }
  write_all(fd, buf.data(), buf.size());
}

bool write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

int run_worker(const Options& o, const WorkerSpec& spec, int report_fd) {
  if (is_attack(o.mode)) return run_attack(o, spec, report_fd);
  Worker w(o, spec, report_fd);
  std::string error;
  if (!w.init(error)) {
    std::fprintf(stderr, "ringws-load worker %u: %s\n", spec.index, error.c_str());
    return 1;
  }
  return w.run_forked();
}


}  // namespace ringws::load
