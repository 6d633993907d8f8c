// The WebSocket phase of a connection: frames in (the engine is the framer's FrameSink),
// and the close handshake (RFC 6455 section 7).
#include "core/config.h"
#include "core/engine/engine.h"
#include "core/memory_governor.h"

namespace ringws {

namespace {

CloseReason reason_for_code(uint16_t code) {
  switch (code) {
    case 1002: return CloseReason::kProtocolError;
    case 1007: return CloseReason::kInvalidData;
    case 1009: return CloseReason::kTooBig;
    case 1008: return CloseReason::kSlowConsumer;
    case 1013: return CloseReason::kOverloaded;
    default: return CloseReason::kInternal;
  }
}

ConnId conn_of(uint64_t value) { return {static_cast<uint32_t>(value), static_cast<uint16_t>(value >> 32)}; }

}  // namespace

void Engine::feed_framer(Connection& c, ConnId id, std::span<const uint8_t> bytes) {
  // The framer lends and takes back the state through this reference; nothing else
  // touches the slot's pointer meanwhile (a teardown from a callback leaves it alone).
  ReaderState* reader = c.reader();
  FeedResult result = framer_.feed(reader, bytes, *this, id.value());
  c.set_reader(reader);
  if (result.status != FeedStatus::kFail) return;
  // A 1013 means the governor refused a buffer for this message: memory is short.
  if (result.close_code == 1013) governor_.count_shed(ShedWhat::kMessage);
  if (c.state == ConnState::kOpen)
    start_close(c, id, result.close_code, {}, false, reason_for_code(result.close_code));
  else if (c.state == ConnState::kClosing)
    teardown(c, id);  // garbage while we wait for its close frame: nothing more to say
}

void Engine::on_message(uint64_t conn, Opcode opcode, std::span<const uint8_t> payload) {
  ConnId id = conn_of(conn);
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) return;
  stats_.messages_in.fetch_add(1, std::memory_order_relaxed);
  // Every message takes a token of the engine's class; over the limit the client gets an
  // error rate_limited with retry_after_ms and the app never sees the message.
  if (!admit_message(*c, id, true)) return;
  app_->on_message(*this, id, opcode, payload);
}

void Engine::on_ping(uint64_t conn, std::span<const uint8_t> payload) {
  ConnId id = conn_of(conn);
  Connection* c = connection(id);
  if (!c || c->state != ConnState::kOpen) return;
  // A ping over the message limit has no reply channel but the close: it gets no pong (and
  // counts as a refusal, so a flood ends in 1008).
  if (!admit_message(*c, id, false)) return;
  if (SharedFrame* pong = make_frame(Opcode::kPong, payload)) enqueue(*c, id, pong, Queue::kPong);
}

void Engine::on_pong(uint64_t conn, std::span<const uint8_t>) {
  // Its arrival already counted as activity. Pongs count against the message limit too
  // (unsolicited ones are allowed as heartbeats, RFC 6455 section 5.5.3); over it they are
  // dropped silently, as there is nothing to answer.
  ConnId id = conn_of(conn);
  Connection* c = connection(id);
  if (c && c->state == ConnState::kOpen) admit_message(*c, id, false);
}

void Engine::on_close(uint64_t conn, uint16_t code, std::string_view /*reason*/) {
  ConnId id = conn_of(conn);
  Connection* c = connection(id);
  if (!c) return;
  c->flags |= kCloseReceived;
  if (c->state == ConnState::kClosing) {
    // The answer to our close: the handshake is complete once our frame is out.
    c->flags |= kCloseAfterSend;
    if (output_.empty(c->output) && !(c->flags & kSendPending)) finish_close(*c, id);
    return;
  }
  // Echo the peer's status code (RFC 6455 section 5.5.1); none for a close without one.
  start_close(*c, id, code, {}, false, CloseReason::kNormal);
}

void Engine::start_close(Connection& c, ConnId id, uint16_t code, std::string_view reason, bool wait_for_peer,
                         CloseReason why) {
  if (c.state != ConnState::kOpen) return;
  c.state = ConnState::kClosing;
  c.close_reason = static_cast<uint8_t>(why);
  // After a failure or the peer's own close, our frame is the last word; after a close we
  // start, the peer may answer before the close deadline.
  if (!wait_for_peer || (c.flags & kCloseReceived)) c.flags |= kCloseAfterSend;
  wheel_.schedule(id.index, tick_after(config_.close_timeout));
  notify_closed(c, id);
  SharedFrame* frame = make_close_frame(code, reason);
  if (!frame) {
    c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
    teardown(c, id);
    return;
  }
  enqueue(c, id, frame, Queue::kFinal);
}

void Engine::finish_close(Connection& c, ConnId id) {
  if (c.flags & kCloseReceived) {
    teardown(c, id);  // the close handshake is complete: the server closes TCP first
    return;
  }
  if (c.flags & kHalfClosed) return;
  // We failed the connection or refused the request while the peer may still be sending.
  // Closing now would answer its next bytes with a reset, which can destroy our last frame
  // or response before the peer reads it. Half-close instead, and keep reading (and
  // dropping) until the peer closes or the close deadline set earlier passes.
  c.flags |= kHalfClosed;
  backend_->shutdown_write(c, id);
}

void Engine::notify_closed(Connection& c, ConnId id) {
  uint32_t word = c.app_word;
  c.app_word = 0;
  app_->on_close(*this, id, word);
}

}  // namespace ringws
