#include "chat/room_home.h"

#include <charconv>
#include <cstdio>

#include "chat/protocol.h"
#include "chat/rooms.h"
#include "core/clock.h"
#include "core/engine/engine.h"
#include "core/log.h"
#include "core/server_state.h"
#include "proto/ws_framer.h"

namespace ringws {

namespace {

constexpr int kFetchRounds = 3;

/// Splits "a b c..." off the front of `text`: the next space-separated word.
std::string_view next_word(std::string_view& text) {
  size_t sp = text.find(' ');
  std::string_view word = text.substr(0, sp);
  text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
  return word;
}

bool to_u64(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

void release_all(std::vector<SharedFrame*>& frames) {
  for (SharedFrame* f : frames) f->release();
  frames.clear();
}

uint64_t wall_us() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

}  // namespace

unsigned home_of(std::string_view room, unsigned reactors) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across processes and builds
  for (char ch : room) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return reactors ? static_cast<unsigned>(h % reactors) : 0;
}

/// A history fetch from Redis for one recovering join.
struct FetchReply final : RedisReply {
  RoomHome* home;
  std::string room;
  JoinPost post;
  uint64_t after;
  std::vector<SharedFrame*> replay;
  int rounds;
  ~FetchReply() override { release_all(replay); }
  void done(Engine& engine, redisReply* r) override {
    auto it = home->rooms_.find(room);
    if (it == home->rooms_.end()) return;
    RoomHome::Room& rm = *it->second;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        rm.sync != RoomHome::Sync::kLive)
      return home->ack(engine, rm, post, 0, {}, rm.offset);
    std::string_view epoch(r->element[0]->str, r->element[0]->len);
    auto first = static_cast<uint64_t>(r->element[2]->integer);
    if (epoch != rm.epoch || post.since_epoch != rm.epoch || (first > after + 1 && after < rm.offset))
      return home->ack(engine, rm, post, 0, {}, rm.offset);
    for (size_t i = 3; i + 1 < r->elements && after < rm.offset; i += 2) {
      auto o = static_cast<uint64_t>(r->element[i]->integer);
      if (o <= after) continue;
      if (o != after + 1 || r->element[i + 1]->type != REDIS_REPLY_STRING) break;
      std::string_view body(r->element[i + 1]->str, r->element[i + 1]->len);
      SharedFrame* f = make_text_frame(message_text(rm.name, o, rm.epoch, body));
      if (!f) break;
      replay.push_back(f);
      after = o;
    }
    if (after >= rm.offset) return home->ack(engine, rm, post, 1, std::move(replay), rm.offset);
    if (rounds + 1 < kFetchRounds) return home->fetch(engine, rm, post, after, std::move(replay), rounds + 1);
    home->ack(engine, rm, post, 0, {}, rm.offset);
  }
};

/// A publish sent to Redis: its message is delivered when it comes back on the channel; if
/// the backplane goes down first (and it has not come back), it is delivered locally.
struct PublishReply final : RedisReply {
  RoomHome* home;
  std::string room;
  std::string body;
  uint64_t origin_ns;
  uint64_t seq;
  void done(Engine& engine, redisReply* r) override {
    if (r && r->type == REDIS_REPLY_INTEGER) {
      home->shared_.backplane.published.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (seq <= home->own_seen_) return;  // it was numbered and delivered before the link broke
    auto it = home->rooms_.find(room);
    if (it == home->rooms_.end()) return;
    if (r && r->type == REDIS_REPLY_ERROR)
      log_event(LogLevel::kWarn, "backplane_publish_failed", "\"error\":\"%.*s\"",
                static_cast<int>(std::min<size_t>(r->len, 200)), r->str);
    if (it->second->sync == RoomHome::Sync::kLocal) home->number_locally(engine, *it->second, body, origin_ns);
  }
};

RoomHome::RoomHome(const ChatOptions& options, ChatShared& shared, Rooms& local, Backplane* backplane)
    : options_(options), shared_(shared), local_(local), backplane_(backplane) {
  if (backplane_) backplane_->set_listener(*this);
}

RoomHome::~RoomHome() = default;

std::string RoomHome::new_epoch(Engine& engine) {
  char text[48];
  std::snprintf(text, sizeof text, "%s.%x.%llx", engine.state().instance.c_str(), engine.id(),
                static_cast<unsigned long long>(++epochs_));
  return text;
}

bool RoomHome::has_members(const Room& room) const {
  return room.global->reactors.load(std::memory_order_acquire) & ~RoomRegistry::kHomeBit;
}

RoomHome::Room& RoomHome::room_for(Engine& engine, std::string_view name) {
  auto it = rooms_.find(std::string(name));
  if (it != rooms_.end()) return *it->second;
  auto room = std::make_unique<Room>();
  room->name.assign(name);
  room->global = shared_.registry.acquire(name, RoomRegistry::kHomeBit);
  if (!backplane_ && options_.history_size)
    room->history = std::make_unique<History>(shared_.history, engine.state().governor);
  Room& r = *room;
  rooms_.emplace(r.name, std::move(room));
  if (!backplane_) {
    r.epoch = new_epoch(engine);
  } else if (backplane_->up()) {
    subscribe(engine, r);
  } else if (backplane_->connecting()) {
    r.sync = Sync::kSubscribing;  // subscribed once the connection is up, or local if it fails
  } else {
    r.epoch = new_epoch(engine);
    r.local_epoch = true;
  }
  return r;
}

void RoomHome::forget(Engine&, Room& room) {
  if (backplane_) backplane_->unsubscribe(room.name);
  std::string name = room.name;
  RoomRegistry::Room* global = room.global;
  rooms_.erase(name);  // frees the history's frames
  shared_.registry.release(global, name, RoomRegistry::kHomeBit);
}

void RoomHome::subscribe(Engine& engine, Room& room) {
  room.sync = Sync::kSubscribing;
  backplane_->subscribe(room.name);  // may call on_subscribed at once (already subscribed)
  (void)engine;
}

// ---------------------------------------------------------------------------------------
// Joins

void RoomHome::join(Engine& engine, JoinPost&& post) {
  Room& room = room_for(engine, post.room);
  if (room.sync == Sync::kSubscribing || room.sync == Sync::kSyncing) {
    room.waiting_joins.push_back(std::move(post));
    return;
  }
  answer(engine, room, post);
}

void RoomHome::answer(Engine& engine, Room& room, const JoinPost& post) {
  if (!post.has_since) return ack(engine, room, post, -1, {}, room.offset);
  if (post.since_epoch != room.epoch) return ack(engine, room, post, 0, {}, room.offset);
  uint64_t n = post.since_offset;
  if (n == room.offset) return ack(engine, room, post, 1, {}, n);
  if (n > room.offset) {
    // Another instance may have delivered further already: wait (bounded) for this one.
    if (room.sync == Sync::kLive) {
      room.ahead.push_back({post, now_ + options_.redis_timeout + 2});
      return;
    }
    return ack(engine, room, post, 0, {}, room.offset);
  }
  if (room.sync == Sync::kLive) return fetch(engine, room, post, n, {}, 0);
  std::vector<SharedFrame*> frames;
  if (room.history && room.history->range(n, room.offset, frames))
    return ack(engine, room, post, 1, std::move(frames), room.offset);
  ack(engine, room, post, 0, {}, room.offset);
}

void RoomHome::fetch(Engine& engine, Room& room, const JoinPost& post, uint64_t after,
                     std::vector<SharedFrame*> replay, int rounds) {
  auto* reply = new FetchReply;
  reply->home = this;
  reply->room = room.name;
  reply->post = post;
  reply->after = after;
  reply->replay = std::move(replay);
  reply->rounds = rounds;
  if (!backplane_->fetch(room.name, after, reply)) ack(engine, room, post, 0, {}, room.offset);
}

void RoomHome::ack(Engine& engine, Room& room, const JoinPost& post, int recovered, std::vector<SharedFrame*> replay,
                   uint64_t offset) {
  JoinAckPost a;
  a.conn = post.conn;
  a.recovered = static_cast<int8_t>(recovered);
  a.offset = offset;
  a.epoch = room.epoch;
  a.room = room.name;
  a.replay = std::move(replay);
  if (SharedFrame* f = encode(a)) engine.post(post.reactor, f, static_cast<uint32_t>(PostKind::kJoinAck));
}

void RoomHome::release_ahead(Engine& engine, Room& room) {
  for (size_t i = 0; i < room.ahead.size();) {
    Ahead& a = room.ahead[i];
    if (a.post.since_offset > room.offset && a.post.since_epoch == room.epoch) {
      ++i;
      continue;
    }
    JoinPost post = std::move(a.post);
    room.ahead[i] = std::move(room.ahead.back());
    room.ahead.pop_back();
    bool exact = post.since_offset == room.offset && post.since_epoch == room.epoch;
    ack(engine, room, post, exact ? 1 : 0, {}, room.offset);
  }
}

// ---------------------------------------------------------------------------------------
// Publishing

void RoomHome::publish(Engine& engine, PublishPost&& post) {
  Room& room = room_for(engine, post.room);
  switch (room.sync) {
    case Sync::kLocal:
      return number_locally(engine, room, post.body, post.origin_ns);
    case Sync::kSubscribing:
    case Sync::kSyncing:
      room.waiting_publishes.push_back(std::move(post));
      return;
    case Sync::kLive:
      break;
  }
  auto* reply = new PublishReply;
  reply->home = this;
  reply->room = room.name;
  reply->origin_ns = post.origin_ns;
  reply->seq = ++publish_seq_;
  std::string candidate = new_epoch(engine);
  reply->body = post.body;  // kept in case the publish must fall back to local delivery
  uint64_t waited_us = post.origin_ns && engine.now_ns() > post.origin_ns ? (engine.now_ns() - post.origin_ns) / 1000 : 0;
  if (!backplane_->publish(room.name, post.body, wall_us() - waited_us, reply->seq, candidate, reply)) {
    // Not sent (the backplane went down in between): the reply object is gone already.
    number_locally(engine, room, post.body, post.origin_ns);
  }
}

void RoomHome::number_locally(Engine& engine, Room& room, const std::string& body, uint64_t origin_ns) {
  if (backplane_ && !room.local_epoch) {
    room.epoch = new_epoch(engine);
    room.local_epoch = true;
  }
  ++room.offset;
  SharedFrame* frame = make_text_frame(message_text(room.name, room.offset, room.epoch, body));
  if (!frame) return;
  frame->set_origin_ns(origin_ns);
  if (room.history) {
    uint64_t now = wall_ms();
    room.history->expire(now, uint64_t(options_.history_ttl) * 1000);
    frame->retain();
    room.history->push(room.offset, now, frame, options_.history_size);
  }
  if (backplane_) shared_.backplane.local_only.fetch_add(1, std::memory_order_relaxed);
  send_to_members(engine, room, frame, false);
}

void RoomHome::send_to_members(Engine& engine, Room& room, SharedFrame* frame, bool events) {
  uint64_t mask = room.global->reactors.load(std::memory_order_acquire) & ~RoomRegistry::kHomeBit;
  uint32_t tag = room.global->id | (events ? kEventsBit : 0);
  bool here = mask & RoomRegistry::reactor_bit(engine.id());
  mask &= ~RoomRegistry::reactor_bit(engine.id());
  for (unsigned peer = 0; mask; ++peer, mask >>= 1) {
    if (!(mask & 1)) continue;
    frame->retain();
    engine.post(peer, frame, tag);
  }
  Rooms::LocalRoom* lr = here ? local_.room_by_id(room.global->id) : nullptr;
  if (lr)
    local_.deliver(engine, *lr, frame, events);
  else
    frame->release();
}

// ---------------------------------------------------------------------------------------
// Rooms left, the tick, the exit

void RoomHome::released(Engine& engine, std::string_view name) {
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end() || has_members(*it->second)) return;
  if (it->second->history && !it->second->history->empty()) return;  // kept for recovery until it expires
  forget(engine, *it->second);
}

void RoomHome::tick(Engine& engine) {
  ++now_;
  uint64_t now_ms = wall_ms();
  std::vector<Room*> idle;
  for (auto& [name, room] : rooms_) {
    if (room->history) room->history->expire(now_ms, uint64_t(options_.history_ttl) * 1000);
    for (size_t i = 0; i < room->ahead.size();) {
      if (static_cast<int32_t>(now_ - room->ahead[i].deadline) < 0) {
        ++i;
        continue;
      }
      JoinPost post = std::move(room->ahead[i].post);
      room->ahead[i] = std::move(room->ahead.back());
      room->ahead.pop_back();
      ack(engine, *room, post, 0, {}, room->offset);
    }
    if (!has_members(*room) && (!room->history || room->history->empty())) idle.push_back(room.get());
  }
  for (Room* room : idle) forget(engine, *room);
}

void RoomHome::exit(Engine&) {
  for (auto& [name, room] : rooms_) shared_.registry.release(room->global, name, RoomRegistry::kHomeBit);
  rooms_.clear();
}

// ---------------------------------------------------------------------------------------
// The backplane

void RoomHome::on_backplane_up(Engine& engine) {
  for (auto& [name, room] : rooms_) subscribe(engine, *room);
}

void RoomHome::on_backplane_down(Engine& engine) {
  std::vector<Room*> all;
  for (auto& [name, room] : rooms_) all.push_back(room.get());
  for (Room* room : all) {
    room->sync = Sync::kLocal;
    if (room->epoch.empty()) {
      room->epoch = new_epoch(engine);
      room->local_epoch = true;
    }
    std::vector<JoinPost> joins = std::move(room->waiting_joins);
    std::vector<PublishPost> publishes = std::move(room->waiting_publishes);
    std::vector<Ahead> ahead = std::move(room->ahead);
    room->waiting_joins.clear();
    room->waiting_publishes.clear();
    room->ahead.clear();
    for (JoinPost& j : joins) answer(engine, *room, j);
    for (PublishPost& p : publishes) number_locally(engine, *room, p.body, p.origin_ns);
    for (Ahead& a : ahead) ack(engine, *room, a.post, 0, {}, room->offset);
  }
}

void RoomHome::on_subscribed(Engine& engine, std::string_view name) {
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end() || !backplane_) return;
  Room& room = *it->second;
  if (room.sync != Sync::kSubscribing) return;
  room.sync = Sync::kSyncing;
  char token[48];
  std::snprintf(token, sizeof token, "%s/%llx", backplane_->source().c_str(),
                static_cast<unsigned long long>(++tokens_));
  room.token = token;
  backplane_->sync(room.name, room.token, new_epoch(engine), nullptr);
}

void RoomHome::went_live(Engine& engine, Room& room) {
  room.sync = Sync::kLive;
  std::vector<JoinPost> joins = std::move(room.waiting_joins);
  std::vector<PublishPost> publishes = std::move(room.waiting_publishes);
  room.waiting_joins.clear();
  room.waiting_publishes.clear();
  for (JoinPost& j : joins) answer(engine, room, j);
  for (PublishPost& p : publishes) publish(engine, std::move(p));
}

void RoomHome::on_channel_message(Engine& engine, std::string_view name, std::string_view payload) {
  auto it = rooms_.find(std::string(name));
  if (it == rooms_.end() || payload.empty()) return;
  Room& room = *it->second;
  char kind = payload.front();
  std::string_view rest = payload.substr(1);
  if (kind == 'S') {
    std::string_view token = next_word(rest), offset_text = next_word(rest), epoch = next_word(rest);
    uint64_t offset = 0;
    if (room.sync != Sync::kSyncing || token != room.token || !to_u64(offset_text, offset) || epoch.empty()) return;
    room.offset = offset;
    room.epoch.assign(epoch);
    room.local_epoch = false;
    return went_live(engine, room);
  }
  if (room.sync != Sync::kLive) return;  // older than this instance's join point
  if (kind == 'E') {  // "EJ:id L:id ..."
    while (!rest.empty()) {
      std::string_view word = next_word(rest);
      if (word.size() < 3 || word[1] != ':') continue;
      if (SharedFrame* f = make_text_frame(member_event_text(word[0] == 'J', room.name, word.substr(2))))
        send_to_members(engine, room, f, true);
    }
    return;
  }
  if (kind != 'M') return;
  std::string_view offset_text = next_word(rest), epoch = next_word(rest), origin_text = next_word(rest),
                   publisher = next_word(rest), body = rest;
  uint64_t offset = 0, origin_us = 0;
  if (!to_u64(offset_text, offset) || !to_u64(origin_text, origin_us) || epoch.empty()) return;
  if (size_t colon = publisher.rfind(':');
      colon != std::string_view::npos && publisher.substr(0, colon) == backplane_->source()) {
    uint64_t seq = 0;
    if (to_u64(publisher.substr(colon + 1), seq) && seq > own_seen_) own_seen_ = seq;
  }
  if (epoch != room.epoch) {
    // A new numbering (Redis lost the room: flushed, restarted, expired): follow it.
    log_event(LogLevel::kWarn, "backplane_epoch_changed", "\"room\":\"%s\",\"offset\":%llu", room.name.c_str(),
              static_cast<unsigned long long>(offset));
    room.epoch.assign(epoch);
    room.offset = offset - 1;
  } else if (offset <= room.offset) {
    return;  // a duplicate
  } else if (offset != room.offset + 1) {
    shared_.backplane.gaps.fetch_add(1, std::memory_order_relaxed);
    log_event(LogLevel::kWarn, "backplane_gap", "\"room\":\"%s\",\"expected\":%llu,\"got\":%llu", room.name.c_str(),
              static_cast<unsigned long long>(room.offset + 1), static_cast<unsigned long long>(offset));
  }
  room.offset = offset;
  SharedFrame* frame = make_text_frame(message_text(room.name, offset, room.epoch, body));
  if (!frame) return;
  uint64_t now_us = wall_us();
  if (origin_us && now_us >= origin_us) {
    uint64_t took_ns = (now_us - origin_us) * 1000;
    shared_.backplane.latency.observe_ns(took_ns);
    if (engine.now_ns() > took_ns) frame->set_origin_ns(engine.now_ns() - took_ns);
  }
  send_to_members(engine, room, frame, false);
  if (!room.ahead.empty()) release_ahead(engine, room);
}

}  // namespace ringws
