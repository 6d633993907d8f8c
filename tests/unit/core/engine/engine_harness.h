// Drives one Engine without sockets: a fake backend records what the engine asks of it,
// the test hands it bytes and completions, and time is an input (STYLE.md habit 7), so
// deadlines, sends and closes can be checked exactly.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/config.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"
#include "core/memory_governor.h"
#include "core/server_state.h"
#include "tests/unit/proto/client_frames.h"

namespace ringws::test {

inline constexpr uint64_t kSecond = 1000000000ull;
inline constexpr uint64_t kMs = 1000000ull;
inline constexpr uint64_t kStart = 1000 * kSecond;  // the engine's first iteration

/// Records the engine's requests. Sends complete at once and whole unless `hold_sends`
/// (then they stay pending, as a send blocked on a full socket, until complete_send()).
class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(Engine& engine) : engine_(engine) {}

  BackendKind kind() const override { return BackendKind::kEpoll; }
  int setup(const char*&) override { return 0; }
  void run() override {}
  void take_late_posts(const std::atomic<unsigned>&) override {}
  void wake() override {}
  void post(Backend&, SharedFrame* frame, uint32_t) override { frame->release(); }
  void watch(Connection&, ConnId id) override { watched.push_back(id); }
  SendResult send(Connection&, ConnId id, std::span<const iovec> iov, size_t bytes) override {
    Sent s{id, {}, iov.size()};
    for (const iovec& v : iov) s.bytes.append(static_cast<const char*>(v.iov_base), v.iov_len);
    sends.push_back(s);
    if (hold_sends) return {0, true};
    return {static_cast<int32_t>(bytes), false};
  }
  void shutdown_write(Connection&, ConnId id) override { half_closed.push_back(id); }
  void close(Connection&, ConnId id) override {
    closed.push_back(id);
    engine_.on_released(id);
  }
  void stop_listening() override {}
  int watch_fd(int, bool, bool, FdWatcher&) override { return 0; }
  void unwatch_fd(int) override {}

  struct Sent {
    ConnId id;
    std::string bytes;
    size_t iovecs;
  };
  bool hold_sends = false;
  std::vector<ConnId> watched, closed, half_closed;
  std::vector<Sent> sends;

 private:
  Engine& engine_;
};

/// An app that records its callbacks and echoes when asked to.
class RecordingApp final : public App {
 public:
  struct Log {
    std::vector<ConnId> opened, closed;
    std::vector<std::string> messages;
    std::vector<std::string> targets;  ///< on_open's target, per open
    bool echo = true;
  };
  explicit RecordingApp(Log& log) : log_(log) {}
  void on_open(Engine&, ConnId id, std::string_view target) override {
    log_.opened.push_back(id);
    log_.targets.emplace_back(target);
  }
  void on_message(Engine& engine, ConnId id, Opcode opcode, std::span<const uint8_t> payload) override {
    log_.messages.emplace_back(reinterpret_cast<const char*>(payload.data()), payload.size());
    if (log_.echo)
      if (SharedFrame* f = make_frame(opcode, payload)) engine.send(id, f);
  }
  void on_close(Engine&, ConnId id, uint32_t) override { log_.closed.push_back(id); }

 private:
  Log& log_;
};

inline std::string upgrade_request(const std::string& path = "/", const std::string& extra_headers = "") {
  return "GET " + path +
         " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

/// One engine, its fake backend and app, with a clock the test moves.
struct EngineHarness {
  /// `key`: --auth jwt's key (with config.auth = AuthMode::kJwt).
  explicit EngineHarness(Config c = {}, GovernorOptions g = {}, std::unique_ptr<JwtKey> key = nullptr)
      : config(std::move(c)), governor(g), state(config, governor) {
    state.auth.key = std::move(key);
    engine = std::make_unique<Engine>(state, 0, std::make_unique<RecordingApp>(app), 64);
    backend = std::make_unique<FakeBackend>(*engine);
    engine->attach(*backend);
    peers.push_back(engine.get());
    engine->set_peers(peers);
    at(kStart);
  }
  ~EngineHarness() {
    engine.reset();  // frees what slots still hold, while the backend object still exists
  }

  /// Starts an iteration at `now` (absolute ns); end() finishes it.
  void at(uint64_t now) { engine->begin_iteration(now); }
  void end() { engine->end_iteration(); }
  /// One whole iteration at `now`.
  void tick(uint64_t now) {
    at(now);
    end();
  }

  ConnId accept(bool limited = false) {
    ConnId id = engine->on_accepted(next_fd++, nullptr, limited);
    return id;
  }
  void feed(ConnId id, const std::string& bytes) {
    Connection* c = engine->connection(id);
    ASSERT_NE(c, nullptr);
    engine->on_bytes(*c, id, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  void feed(ConnId id, const Bytes& bytes) {
    feed(id, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  /// Accepts and upgrades a connection in one iteration at `now`.
  ConnId open(uint64_t now = kStart) {
    at(now);
    ConnId id = accept();
    feed(id, upgrade_request());
    end();
    return id;
  }
  /// Completes the pending send of `id` with `result` bytes.
  void complete_send(ConnId id, int result) {
    Connection* c = engine->connection(id);
    ASSERT_NE(c, nullptr);
    engine->on_send_done(*c, id, result);
  }
  bool closed(ConnId id) const {
    for (ConnId c : backend->closed)
      if (c == id) return true;
    return false;
  }
  /// Everything sent to `id`, in order.
  std::string sent_to(ConnId id) const {
    std::string all;
    for (const auto& s : backend->sends)
      if (s.id == id) all += s.bytes;
    return all;
  }

  Config config;
  MemoryGovernor governor;
  ServerState state;
  RecordingApp::Log app;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<FakeBackend> backend;
  std::vector<Engine*> peers;
  int next_fd = 100;
};

}  // namespace ringws::test
