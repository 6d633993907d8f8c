// libFuzzer driver for the chat app's JSON handler (chat/chat_app.cpp, chat/chat_policy.cpp),
// run as the server runs it: a real Engine with --auth jwt, its rate limits and the ChatApp,
// over a fake backend, with time as an input. Each input is a sequence of client messages
// separated by '\n'; a message's first byte picks one of three connections (bits 0-1; 3 means
// connection 0) and how far the clock moves before it (bits 2-7, in 50 ms steps), the rest is
// the text sent, as one masked frame. The connections hold tokens with different grants
// ("*"; "a*" and "lobby" with publish to "lobby"; "lobby" only), a closed one is reopened, and
// the clock can run past the tokens' expiry (token_expiring, 4001).
//
// Checks besides ASan and UBSan: every frame the server sends is a whole, unmasked frame; every
// text frame is one valid JSON object with a string "type"; every "message" names its room,
// from, user and ts; and no room is left once every connection has closed.
//
// Build: cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
//        -DRINGWS_FUZZ=ON && cmake --build build-fuzz --target chat_fuzz
// Run:   build-fuzz/tests/fuzz/chat_fuzz -dict=tests/fuzz/chat.dict -max_len=4096 -entropic=0 \
//        build-fuzz/corpus-chat tests/fuzz/corpus/chat
// (-entropic=0: with this driver's many features libFuzzer 14's entropic schedule takes
// half the time.)
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/chat_options.h"
#include "chat/make_app.h"
#include "core/backend.h"
#include "core/config.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"
#include "core/memory_governor.h"
#include "core/server_state.h"
#include "proto/base64url.h"
#include "proto/jwt.h"
#include "tests/unit/proto/client_frames.h"

namespace {

using namespace ringws;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr uint64_t kSecond = 1000000000ull;
constexpr uint64_t kStart = 1000 * kSecond;
constexpr uint64_t kWallMs = 1764270000000ull;  // the seeds' tokens expire 60 s after this
// The key of the connections' tokens; the seed corpus holds refresh tokens made with it
// (scripts/mint-token.py --secret-file FILE-HOLDING-THIS --iat 1764270000 --exp 1764270090).
constexpr std::string_view kSecret = "chat-fuzzing-secret-of-at-least-32-bytes";
std::string token_for(int which);

class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(Engine& engine) : engine_(engine) {}
  BackendKind kind() const override { return BackendKind::kEpoll; }
  int setup(const char*&) override { return 0; }
  void run() override {}
  void take_late_posts(const std::atomic<unsigned>&) override {}
  void wake() override {}
  void post(Backend&, SharedFrame* frame, uint32_t) override { frame->release(); }
  void watch(Connection&, ConnId) override {}
  SendResult send(Connection&, ConnId id, std::span<const iovec> iov, size_t bytes) override {
    std::string& out = sent[id.value()];
    for (const iovec& v : iov) out.append(static_cast<const char*>(v.iov_base), v.iov_len);
    return {static_cast<int32_t>(bytes), false};
  }
  void shutdown_write(Connection&, ConnId) override {}
  void close(Connection&, ConnId id) override { engine_.on_released(id); }
  void stop_listening() override {}
  int watch_fd(int, bool, bool, FdWatcher&) override { return 0; }
  void unwatch_fd(int) override {}

  std::unordered_map<uint64_t, std::string> sent;

 private:
  Engine& engine_;
};

/// Checks everything the server sent one connection after its 101: whole server frames, JSON.
void check_output(std::string_view out, simdjson::dom::parser& parser) {
  size_t head = out.find("\r\n\r\n");
  if (out.starts_with("HTTP/1.1 ")) {
    // A 101, or a 401 for a token that expired before a reopen (and nothing after it).
    check(head != std::string_view::npos);
    check(out.starts_with("HTTP/1.1 101 ") || out.starts_with("HTTP/1.1 401 "));
    if (out.starts_with("HTTP/1.1 401 ")) {
      check(out.find("WWW-Authenticate: Bearer") < head);
      return;
    }
    out.remove_prefix(head + 4);
  }
  while (!out.empty()) {
    check(out.size() >= 2);
    auto b0 = static_cast<uint8_t>(out[0]), b1 = static_cast<uint8_t>(out[1]);
    check((b0 & 0x70) == 0 && (b1 & 0x80) == 0);  // no RSV bits, never masked
    size_t n = b1 & 0x7f, p = 2;
    if (n == 126) {
      check(out.size() >= 4);
      n = size_t(uint8_t(out[2])) << 8 | uint8_t(out[3]);
      p = 4;
    } else if (n == 127) {
      check(out.size() >= 10);
      n = 0;
      for (int i = 2; i < 10; ++i) n = n << 8 | uint8_t(out[i]);
      p = 10;
    }
    check(out.size() >= p + n);
    std::string_view payload = out.substr(p, n);
    if ((b0 & 0x0f) == 0x1) {
      check(b0 & 0x80);
      simdjson::padded_string padded(payload);
      simdjson::dom::element root;
      check(parser.parse(padded).get(root) == simdjson::SUCCESS);
      std::string_view type;
      check(root["type"].get_string().get(type) == simdjson::SUCCESS);
      if (type == "message") {
        std::string_view s;
        uint64_t ts;
        check(root["room"].get_string().get(s) == simdjson::SUCCESS);
        check(root["from"].get_string().get(s) == simdjson::SUCCESS);
        check(root["user"].get_string().get(s) == simdjson::SUCCESS && !s.empty());
        check(root["ts"].get_uint64().get(ts) == simdjson::SUCCESS);
      }
    }
    out.remove_prefix(p + n);
  }
}

struct World {
  Config config;
  ChatOptions chat;
  MemoryGovernor governor{GovernorOptions{}};
  ServerState state{config, governor};
  std::unique_ptr<AppModule> module;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<FakeBackend> backend;
  std::vector<Engine*> peers;
  uint64_t now = kStart;
  int next_fd = 10;

  World() {
    config.auth = AuthMode::kJwt;
    config.jwt_leeway = 0;
    config.token_grace = 10;
    config.message_rate = 40;
    config.message_burst = 20;
    config.rate_limit_refusals = 10;
    config.max_backlog = 1 << 16;
    config.max_message = 1 << 14;
    chat.publish_rate = 5;
    chat.publish_burst = 5;
    chat.join_rate = 5;
    chat.join_burst = 8;
    chat.max_rooms_per_connection = 4;
    chat.max_room_name = 16;
    chat.max_publish_bytes = 512;
    chat.read_only_rooms = {"ro*"};
    std::string error;
    state.auth.key = JwtKey::from_secret(kSecret, error);
    module = make_app_module("chat", chat);
    engine = std::make_unique<Engine>(state, 0, module->make_app(0), 32);
    backend = std::make_unique<FakeBackend>(*engine);
    engine->attach(*backend);
    peers.push_back(engine.get());
    engine->set_peers(peers);
    engine->begin_iteration(now);
    engine->set_wall_ms(kWallMs);
    engine->end_iteration();
  }
  ~World() { engine.reset(); }

  ConnId open(int which) {
    engine->begin_iteration(now);
    ConnId id = engine->on_accepted(next_fd++, nullptr, false);
    static const std::string kTokens[3] = {token_for(0), token_for(1), token_for(2)};
    std::string req = "GET /ws?room=lobby&token=" + kTokens[which] +
                      " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (Connection* c = engine->connection(id))
      engine->on_bytes(*c, id, {reinterpret_cast<const uint8_t*>(req.data()), req.size()});
    engine->end_iteration();
    return id;
  }
};

/// The connection's token: HS256 under kSecret, iat at kWallMs, exp 60 s later.
std::string token_for(int which) {
  static const char* const kClaims[3] = {
      R"({"sub":"ann","exp":1764270060,"iat":1764270000,"rooms":["*"],"publish":["*"]})",
      R"({"sub":"ben","exp":1764270060,"iat":1764270000,"rooms":["a*","lobby"],"publish":["lobby"]})",
      R"({"sub":"cy","exp":1764270060,"iat":1764270000,"rooms":["lobby"]})",
  };
  std::string token;
  base64url_encode(std::string_view(R"({"alg":"HS256","typ":"JWT"})"), token);
  token += '.';
  base64url_encode(std::string_view(kClaims[which]), token);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
  token += '.';
  base64url_encode({mac, len}, token);
  return token;
}

}  // namespace

// The engine logs refusals to stdout; libFuzzer reports on stderr.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::freopen("/dev/null", "w", stdout)) std::abort();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  // One engine and app for the whole run (a fresh one per input spends its time mapping and
  // unmapping the app's reserved slabs under ASan). Each input starts a quarter hour after
  // the last, with the wall clock back at kWallMs: the last input's closing connections have
  // timed out and freed their slots, every bucket is full, and the tokens are fresh.
  static World w;
  w.now += 900 * kSecond;
  w.engine->begin_iteration(w.now);
  w.engine->set_wall_ms(kWallMs);
  w.engine->end_iteration();
  w.backend->sent.clear();
  ConnId conns[3];
  for (int i = 0; i < 3; ++i) conns[i] = w.open(i);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  int messages = 0;
  while (!input.empty() && messages++ < 64) {
    size_t nl = input.find('\n');
    std::string_view m = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view{} : input.substr(nl + 1);
    if (m.empty()) continue;
    auto control = static_cast<uint8_t>(m[0]);
    int which = (control & 3) == 3 ? 0 : control & 3;
    w.now += uint64_t(control >> 2) * (kSecond / 20);
    if (!w.engine->is_open(conns[which])) conns[which] = w.open(which);
    w.engine->begin_iteration(w.now);
    test::Bytes frame = test::text(m.substr(1));
    if (Connection* c = w.engine->connection(conns[which])) w.engine->on_bytes(*c, conns[which], frame);
    w.engine->end_iteration();
  }
  // Everyone leaves: the rooms must all go.
  w.engine->begin_iteration(w.now);
  for (ConnId id : conns) w.engine->close(id, 1000, "");
  w.engine->end_iteration();
  for (auto& [id, out] : w.backend->sent) check_output(out, parser);
  std::string metrics;
  w.module->render_metrics(metrics);
  check(metrics.find("ringws_rooms 0\n") != std::string::npos);
  return 0;
}
