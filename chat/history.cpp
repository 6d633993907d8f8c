#include "chat/history.h"

#include "core/memory_governor.h"

namespace ringws {

namespace {
int64_t cost(const SharedFrame* f) { return int64_t(sizeof(SharedFrame)) + f->size(); }
}  // namespace

void History::push(uint64_t offset, uint64_t wall_ms, SharedFrame* frame, uint32_t limit) {
  if (limit == 0) {
    frame->release();
    return;
  }
  while (entries_.size() >= limit) pop_front();
  entries_.push_back({offset, wall_ms, frame});
  counters_->messages.fetch_add(1, std::memory_order_relaxed);
  counters_->bytes.fetch_add(cost(frame), std::memory_order_relaxed);
  governor_->charge(cost(frame));
}

void History::expire(uint64_t now_ms, uint64_t ttl_ms) {
  while (!entries_.empty() && entries_.front().wall_ms + ttl_ms <= now_ms) pop_front();
}

bool History::range(uint64_t after, uint64_t last, std::vector<SharedFrame*>& out) const {
  if (last <= after) return true;
  if (entries_.empty() || entries_.front().offset > after + 1 || entries_.back().offset < last) return false;
  size_t first = static_cast<size_t>(after + 1 - entries_.front().offset);
  for (size_t i = first; i < entries_.size() && entries_[i].offset <= last; ++i) {
    entries_[i].frame->retain();
    out.push_back(entries_[i].frame);
  }
  return true;
}

void History::clear() {
  while (!entries_.empty()) pop_front();
}

void History::pop_front() {
  SharedFrame* f = entries_.front().frame;
  counters_->messages.fetch_sub(1, std::memory_order_relaxed);
  counters_->bytes.fetch_sub(cost(f), std::memory_order_relaxed);
  governor_->charge(-cost(f));
  f->release();
  entries_.pop_front();
}

}  // namespace ringws
