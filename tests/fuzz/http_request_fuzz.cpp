// libFuzzer driver for parse_http_request and classify_request. The first two input bytes
// choose max_head_bytes (little-endian, 0-8192), the rest is the request, so the fuzzer
// explores the limit and the bytes together. Invariants checked here are the header's
// contract; any violation aborts, and ASan catches reads past the input.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "proto/http_request.h"
#include "proto/http_response.h"
#include "proto/ws_accept.h"

namespace {

using ringws::HttpParse;
using ringws::HttpParseResult;
using ringws::HttpRequest;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      __builtin_printf("invariant failed: %s line %d\n", #cond, __LINE__); \
      std::abort();                                                  \
    }                                                                \
  } while (0)

void check_view(std::string_view field, std::string_view head) {
  if (field.empty()) return;
  CHECK(field.data() >= head.data());
  CHECK(field.data() + field.size() <= head.data() + head.size());
}

// Parses a copy in an exactly sized heap block, so ASan sees a read past `bytes.size()`
// even when `bytes` is a prefix of the fuzzer's input.
HttpParseResult parse_copy(std::string_view bytes, size_t limit, HttpRequest& out,
                           std::unique_ptr<char[]>& storage) {
  storage.reset(new char[bytes.size()]);
  if (!bytes.empty()) std::memcpy(storage.get(), bytes.data(), bytes.size());
  return ringws::parse_http_request(std::string_view(storage.get(), bytes.size()), limit, out);
}

bool same_fields(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.target == b.target && a.minor_version == b.minor_version &&
         a.host == b.host && a.connection == b.connection && a.upgrade == b.upgrade &&
         a.sec_websocket_key == b.sec_websocket_key &&
         a.sec_websocket_version == b.sec_websocket_version && a.origin == b.origin &&
         a.x_forwarded_for == b.x_forwarded_for && a.header_count == b.header_count &&
         a.head_bytes == b.head_bytes && a.sec_websocket_protocol_lines == b.sec_websocket_protocol_lines &&
         std::equal(a.sec_websocket_protocol, a.sec_websocket_protocol + a.sec_websocket_protocol_lines,
                    b.sec_websocket_protocol);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t limit = (static_cast<size_t>(data[0]) | static_cast<size_t>(data[1]) << 8) % 8193;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);

  HttpRequest req;
  HttpParseResult res = ringws::parse_http_request(bytes, limit, req);
  switch (res.status) {
    case HttpParse::kPartial:
      CHECK(res.error_status == 0);
      CHECK(bytes.size() <= limit);  // never "need more" past the limit
      return 0;
    case HttpParse::kError:
      CHECK(res.error_status == 400 || res.error_status == 431);
      if (bytes.size() <= limit) {
        // A 431 with the input inside the limit can only be the header count (the parser
        // leaves the count it reached in `req`).
        CHECK(res.error_status == 400 || req.header_count > 100);
      }
      return 0;
    case HttpParse::kComplete:
      break;
  }

  CHECK(res.error_status == 0);
  CHECK(req.head_bytes <= bytes.size());
  CHECK(req.head_bytes <= limit);
  CHECK(req.head_bytes >= 4);
  CHECK(req.header_count <= 100);
  std::string_view head = bytes.substr(0, req.head_bytes);
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
  for (std::string_view f : {req.method, req.host, req.connection, req.upgrade,
                             req.sec_websocket_key, req.sec_websocket_version, req.origin,
                             req.x_forwarded_for}) {
    check_view(f, head);
  }
  CHECK(req.sec_websocket_protocol_lines <= HttpRequest::kMaxProtocolLines);
  for (size_t i = 0; i < req.sec_websocket_protocol_lines; ++i) check_view(req.sec_websocket_protocol[i], head);
  // The target views the head, except the static "/" of an absolute form with no path.
  if (req.target != "/") check_view(req.target, head);
  CHECK(!req.method.empty() && !req.target.empty() && req.target[0] == '/');

  // The head alone parses the same; one byte less is "need more"; the head's own length
  // is the smallest limit that accepts it.
  std::unique_ptr<char[]> storage;
  HttpRequest again;
  CHECK(parse_copy(head, limit, again, storage).status == HttpParse::kComplete);
  CHECK(again.head_bytes == req.head_bytes);
  // Compare contents, not addresses: `again` views the copy.
  CHECK(same_fields(req, again));
  CHECK(parse_copy(head.substr(0, head.size() - 1), limit, again, storage).status ==
        HttpParse::kPartial);
  CHECK(ringws::parse_http_request(bytes, req.head_bytes, again).status == HttpParse::kComplete);
  HttpParseResult tight = ringws::parse_http_request(bytes, req.head_bytes - 1, again);
  CHECK(tight.status == HttpParse::kError && tight.error_status == 431);

  ringws::RequestVerdict verdict = ringws::classify_request(req);
  switch (verdict.kind) {
    case ringws::RequestKind::kReject:
      CHECK(verdict.status == 400 || verdict.status == 405 || verdict.status == 426);
      break;
    case ringws::RequestKind::kPlainGet:
      CHECK(req.method == "GET");
      break;
    case ringws::RequestKind::kWebSocketUpgrade: {
      CHECK(req.method == "GET" && ringws::is_valid_websocket_key(req.sec_websocket_key));
      char out[ringws::kMax101Bytes];
      CHECK(ringws::write_switching_protocols(req.sec_websocket_key, out) <= ringws::kMax101Bytes);
      std::string_view offered = req.sec_websocket_protocol_lines ? req.sec_websocket_protocol[0] : "";
      CHECK(ringws::write_switching_protocols(req.sec_websocket_key, out, offered) <= ringws::kMax101Bytes);
      break;
    }
  }
  return 0;
}
