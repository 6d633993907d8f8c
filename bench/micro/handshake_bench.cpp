// The opening handshake: HTTP request parsing, classification and Sec-WebSocket-Accept.
#include <benchmark/benchmark.h>

#include <string_view>

#include "bench/micro/micro.h"
#include "proto/http_request.h"
#include "proto/ws_accept.h"

namespace ringws {
namespace {

// What Chrome 120 sends to open a WebSocket (565 bytes).
constexpr std::string_view kChromeUpgrade =
    "GET /chat?room=lobby HTTP/1.1\r\n"
    "Host: ws.example.com:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://www.example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=3f1c2a9be07d4d5a8c6b1e0f2d3c4b5a; theme=dark\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";
constexpr size_t kMaxHead = 8192;  // the server's default --max-header-bytes

// The key is checked on every upgrade before anything is sent.
void BM_IsValidWebSocketKey(benchmark::State& state) {
  std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";
  for (auto _ : state) {
    benchmark::DoNotOptimize(key);
    bool ok = is_valid_websocket_key(key);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_IsValidWebSocketKey);

// SHA-1 and base64 through OpenSSL, once per accepted upgrade.
void BM_WebSocketAccept(benchmark::State& state) {
  std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";
  char out[kWebSocketAcceptLength];
  for (auto _ : state) {
    benchmark::DoNotOptimize(key);
    websocket_accept(key, out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_WebSocketAccept);

// The request arriving in one receive: one parse and the upgrade verdict.
void BM_ParseUpgradeWhole(benchmark::State& state) {
  HttpRequest request;
  for (auto _ : state) {
    HttpParseResult r = parse_http_request(kChromeUpgrade, kMaxHead, request);
    RequestVerdict v = classify_request(request);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(v);
  }
  if (parse_http_request(kChromeUpgrade, kMaxHead, request).status != HttpParse::kComplete ||
      classify_request(request).kind != RequestKind::kWebSocketUpgrade)
    state.SkipWithError("the sample request is not an upgrade");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChromeUpgrade.size()));
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_ParseUpgradeWhole);

// The request arriving in five receives: the server keeps the bytes and re-parses from the
// start after each one (4 partial parses at 1/5, 2/5, 3/5, 4/5, then the complete one).
void BM_ParseUpgradeSplit(benchmark::State& state) {
  const size_t n = kChromeUpgrade.size();
  const size_t cuts[] = {n / 5, 2 * n / 5, 3 * n / 5, 4 * n / 5, n};
  HttpRequest request;
  for (auto _ : state) {
    for (size_t cut : cuts) {
      HttpParseResult r = parse_http_request(kChromeUpgrade.substr(0, cut), kMaxHead, request);
      benchmark::DoNotOptimize(r);
    }
    RequestVerdict v = classify_request(request);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_ParseUpgradeSplit);

// Everything the server computes for one upgrade that arrived whole: parse, classify, accept.
void BM_HandshakeTotal(benchmark::State& state) {
  HttpRequest request;
  char out[kWebSocketAcceptLength];
  for (auto _ : state) {
    HttpParseResult r = parse_http_request(kChromeUpgrade, kMaxHead, request);
    RequestVerdict v = classify_request(request);
    websocket_accept(request.sec_websocket_key, out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(v);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
RINGWS_MICRO(BM_HandshakeTotal);

}  // namespace
}  // namespace ringws
