// Fan-out: one frame, many references (DESIGN.md: one copy per message). A broadcast or a
// post reaches another reactor through its backend (io_uring: MSG_RING; epoll: a lock-free
// queue and an eventfd), and is delivered there on that reactor's own thread.
#include "core/engine/engine.h"

namespace ringws {

namespace {
constexpr uint32_t kBroadcastTag = 0x7fffffffu;  // post() tag of a broadcast to every connection
}

void Engine::post(unsigned peer, SharedFrame* frame, uint32_t tag) {
  if (peer == id_) {
    on_posted(frame, tag);
  } else if (peer < peers_.size()) {
    backend_->post(*peers_[peer]->backend_, frame, tag);
  } else {
    frame->release();
  }
}

void Engine::broadcast(SharedFrame* frame) {
  for (Engine* peer : peers_) {
    if (peer == this) continue;
    frame->retain();
    backend_->post(*peer->backend_, frame, kBroadcastTag);
  }
  deliver_to_all(frame);
}

void Engine::on_posted(SharedFrame* frame, uint32_t tag) {
  if (tag == kBroadcastTag)
    deliver_to_all(frame);
  else
    app_->on_posted(*this, frame, tag);
}

void Engine::deliver_to_all(SharedFrame* frame) {
  // Count the recipients first, then take their references in one add.
  uint32_t recipients = 0;
  for (uint32_t i = 0; i < slab_.high_water(); ++i)
    if (Connection* c = slab_.get(i); c && c->state == ConnState::kOpen) ++recipients;
  if (recipients) frame->retain(recipients);
  count_fanout(recipients);
  for (uint32_t i = 0; i < slab_.high_water() && recipients; ++i) {
    Connection* c = slab_.get(i);
    if (c && c->state == ConnState::kOpen) {
      enqueue(*c, id_of(i), frame);
      --recipients;
    }
  }
  while (recipients--) frame->release();  // recipients that closed during the walk
  frame->release();
}

}  // namespace ringws
