// The HTTP phase of a connection: from its first bytes to the 101, or to the one response
// a plain request gets before the connection closes.
//
// Most requests arrive whole in one read and are parsed where they landed (the receive
// buffer), so a connection is lent no request buffer at all. Only a request split across
// reads is copied into a HandshakeBuffer, which starts at 1 KiB and doubles up to
// --max-header-bytes; over the memory high-water mark none is lent and the client gets 503.
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "core/config.h"
#include "core/engine/engine.h"
#include "core/http/endpoints.h"
#include "core/json_text.h"
#include "core/log.h"
#include "core/memory_governor.h"
#include "core/server_state.h"
#include "proto/http_request.h"
#include "proto/http_response.h"

namespace ringws {

namespace {

constexpr uint32_t kFirstBufferBytes = 1024;

/// The right-most X-Forwarded-For entry: the one the nearest proxy (the ALB) appended.
std::string_view rightmost_forwarded(std::string_view xff) {
  size_t comma = xff.rfind(',');
  std::string_view last = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  return last;
}

std::span<const uint8_t> as_bytes(const char* p, size_t n) { return {reinterpret_cast<const uint8_t*>(p), n}; }

}  // namespace

void Engine::handle_request_bytes(Connection& c, ConnId id, std::span<const uint8_t> bytes) {
  const uint32_t max = config_.max_header_bytes;
  HttpRequest request;
  if (!c.handshake()) {
    // The common case: the whole head in this read, parsed in place.
    std::string_view window(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    HttpParseResult parsed = parse_http_request(window, max, request);
    if (parsed.status == HttpParse::kComplete) {
      handle_request(c, id, request, {}, bytes.subspan(request.head_bytes));
      return;
    }
    if (parsed.status == HttpParse::kError) {
      int status = parsed.error_status ? parsed.error_status : 400;
      refuse(c, id, status, status == 431 ? RefuseReason::kTooLarge : RefuseReason::kBadRequest, {});
      return;
    }
    // Incomplete: it needs a buffer, which a connection over a limit is not lent.
    if ((c.flags & kLimited) || governor_.over_high_water()) {
      shed_at_accept(c, id);
      return;
    }
  }
  // Copy what fits, growing the buffer by doubling up to the limit.
  HandshakeBuffer* buffer = c.handshake();
  uint32_t have = buffer ? buffer->length : 0;
  size_t take = std::min<size_t>(bytes.size(), max - have);
  uint32_t need = have + static_cast<uint32_t>(take);
  if (!buffer || need > buffer->capacity) {
    uint32_t capacity = std::min(max, std::max(kFirstBufferBytes, std::bit_ceil(need)));
    uint32_t old_capacity = buffer ? buffer->capacity : 0;
    if (buffer && governor_.over_high_water()) {
      shed_at_accept(c, id);
      return;
    }
    auto* grown = static_cast<HandshakeBuffer*>(std::realloc(buffer, sizeof(HandshakeBuffer) + capacity));
    if (!grown) {
      c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
      teardown(c, id);
      return;
    }
    if (!buffer) {
      grown->length = 0;
      grown->peer[0] = '\0';
      governor_.charge(int64_t(sizeof(HandshakeBuffer)));
    }
    governor_.charge(int64_t(capacity) - int64_t(old_capacity));
    grown->capacity = capacity;
    c.set_handshake(grown);
  }
  HandshakeBuffer& hs = *c.handshake();
  std::memcpy(hs.bytes + hs.length, bytes.data(), take);
  hs.length += static_cast<uint32_t>(take);

  HttpParseResult parsed = parse_http_request({hs.bytes, hs.length}, max, request);
  if (parsed.status == HttpParse::kPartial) {
    // A full buffer with no end of head in it: the head is longer than the limit.
    if (hs.length == max) refuse(c, id, 431, RefuseReason::kTooLarge, hs.peer);
    return;
  }
  if (parsed.status == HttpParse::kError) {
    int status = parsed.error_status ? parsed.error_status : 400;
    refuse(c, id, status, status == 431 ? RefuseReason::kTooLarge : RefuseReason::kBadRequest, hs.peer);
    return;
  }
  // Bytes after the head: what the buffer holds past it, then what did not fit.
  std::span<const uint8_t> buffered = as_bytes(hs.bytes + request.head_bytes, hs.length - request.head_bytes);
  handle_request(c, id, request, buffered, bytes.subspan(take));
}

void Engine::handle_request(Connection& c, ConnId id, const HttpRequest& request, std::span<const uint8_t> rest,
                            std::span<const uint8_t> more) {
  // The client's address, for limits and logs: behind a trusted proxy the entry it appended.
  std::string_view address = c.handshake() ? std::string_view(c.handshake()->peer) : std::string_view{};
  if (config_.trust_proxy && !request.x_forwarded_for.empty()) address = rightmost_forwarded(request.x_forwarded_for);
  if (c.admin) {
    handle_admin_request(c, id, request, address);
    return;
  }
  RequestVerdict verdict = classify_request(request);
  if (verdict.kind == RequestKind::kReject) {
    RefuseReason why = verdict.status == 405   ? RefuseReason::kMethod
                       : verdict.status == 426 ? RefuseReason::kVersion
                                               : RefuseReason::kBadRequest;
    refuse(c, id, verdict.status, why, address);
    return;
  }
  if (verdict.kind == RequestKind::kPlainGet) {
    PlainResponse response = route_plain_get(request.target, state_, false);
    respond_and_close(c, id, response.status, response.body, response.content_type);
    return;
  }
  if (c.flags & kLimited) {
    bool memory = governor_.over_high_water();
    refuse(c, id, 503, memory ? RefuseReason::kMemory : RefuseReason::kCapacity, address);
    return;
  }
  // The token (--auth jwt) and the subprotocol to answer with (ringws.v1, when offered).
  TokenSource token = find_token(request, token_scratch_);
  // The 101 is built before anything is counted, so a failure here leaves no count behind.
  char accept[kMax101Bytes];
  size_t n = write_switching_protocols(request.sec_websocket_key, accept, token.subprotocol);
  SharedFrame* response = SharedFrame::create(static_cast<uint32_t>(n));
  if (!response) {
    c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
    teardown(c, id);
    return;
  }
  std::memcpy(response->data(), accept, n);
  if (!admit_upgrade(c, id, request, address, token)) {
    response->release();
    return;
  }
  // Upgrade. The request buffer (which `request`, `address` and `rest` view) is detached
  // from the slot, so nothing that closes the connection below can free it under us.
  HandshakeBuffer* buffer = c.handshake();
  c.set_reader(nullptr);  // open: the slot's pointer now means the framer's state
  c.state = ConnState::kOpen;
  c.flags |= kUpgraded;
  stats_.upgraded.fetch_add(1, std::memory_order_relaxed);
  stats_.websocket_open.fetch_add(1, std::memory_order_relaxed);
  state_.websocket_open.fetch_add(1, std::memory_order_relaxed);
  install_identity(id);
  // Neither logs nor apps ever see the token.
  std::string_view target = strip_token(request.target, token_scratch_);
  if (config_.log_connections) {
    char conn[kConnIdTextSize];
    conn_text(id, conn);
    log_event(LogLevel::kInfo, "websocket_open", "\"conn\":\"%s\",\"address\":%s,\"path\":%s,\"user\":%s", conn,
              JsonEscaped<96>(address).c_str(), JsonEscaped<256>(target).c_str(), JsonEscaped<96>(user(id)).c_str());
  }
  if (enqueue(c, id, response, Queue::kFinal)) {
    schedule_next_deadline(c, id);
    app_->on_open(*this, id, target);
    // Frames the client sent right behind its request; the app may have closed it meanwhile.
    if (c.state == ConnState::kOpen && !rest.empty()) feed_framer(c, id, rest);
    if (c.state == ConnState::kOpen && !more.empty()) feed_framer(c, id, more);
  }
  if (buffer) {
    governor_.charge(-int64_t(sizeof(HandshakeBuffer) + buffer->capacity));
    std::free(buffer);
  }
}

void Engine::handle_admin_request(Connection& c, ConnId id, const HttpRequest& request, std::string_view address) {
  std::string_view path = request.target.substr(0, request.target.find('?'));
  if (request.method == "POST" && path == "/admin/drain") {
    // The main thread starts the drain (as SIGUSR1 does): 1001 to every WebSocket, 503 to
    // upgrades and /healthz, the process kept running for the rest of the deregistration.
    bool first = !state_.drain_requested.exchange(true);
    log_event(LogLevel::kInfo, "drain_requested", "\"address\":%s,\"first\":%s", JsonEscaped<96>(address).c_str(),
              first ? "true" : "false");
    respond_and_close(c, id, 202, "draining\n");
    return;
  }
  RequestVerdict verdict = classify_request(request);
  if (verdict.kind == RequestKind::kPlainGet) {
    PlainResponse response = route_plain_get(request.target, state_, true);
    respond_and_close(c, id, response.status, response.body, response.content_type);
    return;
  }
  // No WebSocket on the admin listener, and nothing but GET besides the drain.
  int status = verdict.kind == RequestKind::kWebSocketUpgrade ? 404 : verdict.status;
  refuse(c, id, status ? status : 400, status == 405 ? RefuseReason::kMethod : RefuseReason::kBadRequest, address);
}

bool Engine::admit_upgrade(Connection& c, ConnId id, const HttpRequest& request, std::string_view address,
                           const TokenSource& token) {
  if (draining_ || state_.draining.load(std::memory_order_relaxed)) {
    refuse(c, id, 503, RefuseReason::kDraining, address);
    return false;
  }
  if (governor_.over_high_water()) {
    governor_.count_shed(ShedWhat::kUpgrade);
    refuse(c, id, 503, RefuseReason::kMemory, address);
    return false;
  }
  if (!state_.origin_allowed(request.origin)) {
    refuse(c, id, 403, RefuseReason::kOrigin, address);
    return false;
  }
  if (!authenticate(c, id, token, address)) return false;
  if (config_.max_per_address && !address.empty()) {
    uint32_t handle = 0;
    if (!state_.addresses.try_acquire(address, handle)) {
      refuse(c, id, 429, RefuseReason::kPerAddress, address);
      return false;
    }
    c.client_key = handle;
  }
  return true;
}

void Engine::refuse(Connection& c, ConnId id, int status, RefuseReason why, std::string_view address,
                    const char* detail) {
  stats_.refused_by[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  if (detail)
    log_event(LogLevel::kInfo, "handshake_refused", "\"status\":%d,\"reason\":\"%s\",\"detail\":\"%s\",\"address\":%s",
              status, refuse_reason_name(why), detail, JsonEscaped<96>(address).c_str());
  else
    log_event(LogLevel::kInfo, "handshake_refused", "\"status\":%d,\"reason\":\"%s\",\"address\":%s", status,
              refuse_reason_name(why), JsonEscaped<96>(address).c_str());
  respond_and_close(c, id, status);
}

void Engine::respond_and_close(Connection& c, ConnId id, int status, std::string_view body,
                               std::string_view content_type) {
  std::string text = simple_response(status, body, content_type);
  free_handshake(c);  // after the response is built: `body` may view the request
  SharedFrame* frame = SharedFrame::create(static_cast<uint32_t>(text.size()));
  if (!frame) {
    c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
    teardown(c, id);
    return;
  }
  std::memcpy(frame->data(), text.data(), text.size());
  c.close_reason = static_cast<uint8_t>(CloseReason::kHttp);
  c.state = ConnState::kClosing;
  c.flags |= kCloseAfterSend;
  wheel_.schedule(id.index, tick_after(config_.close_timeout));
  enqueue(c, id, frame, Queue::kFinal);
}

void Engine::shed_at_accept(Connection& c, ConnId id) {
  bool memory = governor_.over_high_water();
  stats_.refused_by[static_cast<size_t>(memory ? RefuseReason::kMemory : RefuseReason::kCapacity)].fetch_add(
      1, std::memory_order_relaxed);
  // A connection taken in below the high-water mark whose request then needed a buffer above
  // it is shed too: count it as on_accepted counts those refused at once (kLimited ones were).
  if (memory && !(c.flags & kLimited)) governor_.count_shed(ShedWhat::kConnection);
  free_handshake(c);
  c.close_reason = static_cast<uint8_t>(CloseReason::kHttp);
  c.state = ConnState::kClosing;
  c.flags |= kCloseAfterSend;
  wheel_.schedule(id.index, tick_after(config_.close_timeout));
  refusal_503_->retain();
  enqueue(c, id, refusal_503_, Queue::kFinal);
}

}  // namespace ringws
