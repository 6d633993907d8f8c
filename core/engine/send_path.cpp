// Bytes out. Frames are queued by reference as they are produced; at the end of the loop
// iteration each connection with something queued gets one send carrying all of it (up to
// a cap), so frames from several messages handled in one iteration leave in one TCP
// segment instead of one each (STYLE.md habit 9; DESIGN.md: one send in flight per socket).
#include "core/clock.h"
#include "core/config.h"
#include "core/engine/engine.h"

namespace ringws {

namespace {

// One send carries at most this much (and at most the engine's 64 iovecs): enough to fill
// a socket's send buffer in a few sends, small enough that one slow connection with a deep
// backlog does not monopolise an iteration.
constexpr size_t kMaxSendBytes = 256 * 1024;

}  // namespace

bool Engine::enqueue(Connection& c, ConnId id, SharedFrame* frame, Queue kind) {
  if (c.state == ConnState::kTeardown) {
    frame->release();
    return false;
  }
  OutputQueues::Push pushed = kind == Queue::kPong ? output_.push_pong(c.output, frame, config_.max_backlog)
                                                   : output_.push(c.output, frame, config_.max_backlog,
                                                                  kind == Queue::kFinal);
  switch (pushed) {
    case OutputQueues::Push::kQueued:
      stats_.messages_out.fetch_add(1, std::memory_order_relaxed);
      if (!(c.flags & kFlushQueued)) {
        c.flags |= kFlushQueued;
        to_flush_.push_back(id);
      }
      return true;
    case OutputQueues::Push::kOverCap:
      // A slow consumer: drop what is not yet being sent, then say why we close (1008).
      output_.drop_unsent(c.output);
      start_close(c, id, 1008, "slow consumer", false, CloseReason::kSlowConsumer);
      return false;
    case OutputQueues::Push::kNoMemory:
      break;
  }
  c.close_reason = static_cast<uint8_t>(CloseReason::kInternal);
  teardown(c, id);
  return false;
}

void Engine::observe_delivery(uint64_t origin_ns) {
  // A fresh clock reading, once per message: with epoll the last send can happen in the
  // very iteration the message arrived in, whose cached time would say zero.
  uint64_t now = monotonic_ns();
  stats_.delivery_latency.observe_ns(now > origin_ns ? now - origin_ns : 0);
}

void Engine::flush_queued() {
  // By index: a send that fails tears its connection down, and the app's on_close may
  // queue frames for others, which appends here; they go out in this same pass.
  for (size_t i = 0; i < to_flush_.size(); ++i) {
    ConnId id = to_flush_[i];
    Connection* c = connection(id);
    if (!c) continue;
    c->flags &= static_cast<uint8_t>(~kFlushQueued);
    if (c->state != ConnState::kTeardown) flush(*c, id);
  }
  to_flush_.clear();
}

void Engine::flush(Connection& c, ConnId id) {
  if (c.flags & kSendPending) return;  // on_send_done sends the rest
  size_t bytes = 0;
  size_t count = output_.gather(c.output, iov_, std::size(iov_), kMaxSendBytes, bytes);
  if (count == 0) {
    if (c.flags & kCloseAfterSend) finish_close(c, id);
    return;
  }
  SendResult result = backend_->send(c, id, {iov_, count}, bytes);
  stats_.sends.fetch_add(1, std::memory_order_relaxed);
  if (result.sent < 0) {
    teardown(c, id);
    return;
  }
  if (result.sent > 0) {
    stats_.bytes_out.fetch_add(static_cast<uint64_t>(result.sent), std::memory_order_relaxed);
    output_.consume(c.output, static_cast<size_t>(result.sent),
                    [this](uint64_t origin) { observe_delivery(origin); });
  }
  if (result.pending) {
    c.flags |= kSendPending;
    output_.set_in_flight(c.output, bytes - static_cast<size_t>(result.sent));
    return;
  }
  // Everything gathered left at once; more may wait behind the gather limits.
  if (!output_.empty(c.output)) {
    c.flags |= kFlushQueued;
    to_flush_.push_back(id);
  } else if (c.flags & kCloseAfterSend) {
    finish_close(c, id);
  }
}

void Engine::on_send_done(Connection& c, ConnId id, int result) {
  c.flags &= static_cast<uint8_t>(~kSendPending);
  if (c.state == ConnState::kTeardown) return;  // the slot's frames go when it is freed
  if (result < 0) {
    output_.set_in_flight(c.output, 0);
    teardown(c, id);
    return;
  }
  if (result > 0) {
    stats_.bytes_out.fetch_add(static_cast<uint64_t>(result), std::memory_order_relaxed);
    // The send that drops a frame's last reference completes that message's delivery.
    output_.consume(c.output, static_cast<size_t>(result),
                    [this](uint64_t origin) { observe_delivery(origin); });
  } else {
    output_.set_in_flight(c.output, 0);
  }
  if (!output_.empty(c.output)) {
    // What queued up meanwhile goes out at the end of this iteration, in one send.
    if (!(c.flags & kFlushQueued)) {
      c.flags |= kFlushQueued;
      to_flush_.push_back(id);
    }
  } else if (c.flags & kCloseAfterSend) {
    finish_close(c, id);
  }
}

}  // namespace ringws
