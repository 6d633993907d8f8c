#include "chat/backplane.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "chat/redis_scripts.h"
#include "core/engine/engine.h"
#include "core/log.h"

namespace ringws {

namespace {

constexpr uint32_t kMaxBackoffSeconds = 10;
constexpr uint32_t kHeartbeatTtlMs = 5000;  // a dead instance's presence is ignored after this
constexpr uint32_t kPresenceKeyTtl = 120;   // s; every room's field is rewritten every 30 s
constexpr uint32_t kMetaTtlMin = 86400;     // s; a room's offset and epoch outlive its history

std::string sha1_hex(const char* text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(text, std::strlen(text), digest, &len, EVP_sha1(), nullptr);
  std::string out;
  char hex[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::string number(uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string key(std::string_view room, const char* suffix) {
  std::string k = "ringws:{";
  k.append(room).append("}").append(suffix);
  return k;
}

}  // namespace

Backplane::Backplane(const ChatOptions& options, BackplaneCounters& counters)
    : options_(options),
      counters_(counters),
      sha_publish_(sha1_hex(redis_scripts::kPublish)),
      sha_sync_(sha1_hex(redis_scripts::kSync)),
      sha_fetch_(sha1_hex(redis_scripts::kFetch)),
      sha_presence_(sha1_hex(redis_scripts::kPresence)),
      sha_heartbeat_(sha1_hex(redis_scripts::kHeartbeat)) {
  if (getrandom(&rng_, sizeof rng_, 0) != sizeof rng_) rng_ = 0x9e3779b97f4a7c15ull;
  cmd_.owner = sub_.owner = this;
}

Backplane::~Backplane() { free_links(); }

std::string Backplane::channel_of(std::string_view room) { return key(room, ""); }

// ---------------------------------------------------------------------------------------
// The hiredis adapter: its five hooks map onto Engine::watch_fd for the link's descriptor.

void Backplane::Link::update() {
  if (fd < 0 || !owner->engine_) return;
  if (reading || writing)
    owner->engine_->watch_fd(fd, reading, writing, *this);
  else
    owner->engine_->watch_fd(fd, false, false, *this);  // stays registered, quiet
}

void Backplane::adapter_add_read(void* p) {
  auto* l = static_cast<Link*>(p);
  if (!l->reading) { l->reading = true; l->update(); }
}
void Backplane::adapter_del_read(void* p) {
  auto* l = static_cast<Link*>(p);
  if (l->reading) { l->reading = false; l->update(); }
}
void Backplane::adapter_add_write(void* p) {
  auto* l = static_cast<Link*>(p);
  if (!l->writing) { l->writing = true; l->update(); }
}
void Backplane::adapter_del_write(void* p) {
  auto* l = static_cast<Link*>(p);
  if (l->writing) { l->writing = false; l->update(); }
}
void Backplane::adapter_cleanup(void* p) {
  // hiredis is freeing the context and closes the descriptor right after this.
  auto* l = static_cast<Link*>(p);
  if (l->fd >= 0 && l->owner->engine_) l->owner->engine_->unwatch_fd(l->fd);
  l->fd = -1;
  l->reading = l->writing = false;
  l->ac = nullptr;
  l->connected = false;
}

void Backplane::Link::on_fd_ready(int, bool readable, bool writable, bool failed) {
  // Either call can free the context (an error, EOF): check it is still ours before the next.
  redisAsyncContext* c = ac;
  if (!c) return;
  if (!connected) {
    if (writable || failed) redisAsyncHandleWrite(c);
    else if (readable) redisAsyncHandleRead(c);
    return;
  }
  if (readable || failed) redisAsyncHandleRead(c);
  if (ac == c && writable) redisAsyncHandleWrite(c);
}

bool Backplane::open_link(Link& link) {
  redisAsyncContext* ac = redisAsyncConnect(options_.redis.address.c_str(), options_.redis.port);
  if (!ac) return false;
  if (ac->err) {
    log_event(LogLevel::kWarn, "backplane_connect_failed", "\"source\":\"%s\",\"error\":\"%s\"", source_.c_str(),
              ac->errstr);
    redisAsyncFree(ac);
    return false;
  }
  link.ac = ac;
  link.fd = ac->c.fd;
  link.connected = false;
  ac->data = &link;
  ac->ev.data = &link;
  ac->ev.addRead = adapter_add_read;
  ac->ev.delRead = adapter_del_read;
  ac->ev.addWrite = adapter_add_write;
  ac->ev.delWrite = adapter_del_write;
  ac->ev.cleanup = adapter_cleanup;
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  // The connect is in progress: hiredis waits for writability (addWrite was called before the
  // hooks were set, so ask for it here).
  link.writing = true;
  link.update();
  return true;
}

void Backplane::on_connect(const redisAsyncContext* ac, int status) {
  auto* link = static_cast<Link*>(ac->data);
  Backplane& self = *link->owner;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback: never free it here.
    link->ac = nullptr;
    link->connected = false;
    if (self.engine_ && !self.stopping_) self.go_down(*self.engine_, ac->errstr);
    return;
  }
  link->connected = true;
  if (self.engine_ && link == &self.sub_ && self.ready_pong_) self.became_ready(*self.engine_);
}

void Backplane::on_disconnect(const redisAsyncContext* ac, int) {
  auto* link = static_cast<Link*>(ac->data);
  Backplane& self = *link->owner;
  link->ac = nullptr;
  link->connected = false;
  if (self.engine_ && !self.stopping_) self.go_down(*self.engine_, ac->errstr[0] ? ac->errstr : "connection closed");
}

// ---------------------------------------------------------------------------------------
// Connecting, going down, the tick

void Backplane::connect(Engine& engine) {
  engine_ = &engine;
  state_ = State::kConnecting;
  state_since_ = now_;
  ready_pong_ = false;
  outstanding_ = 0;
  progress_tick_ = now_;
  if (!open_link(cmd_) || !open_link(sub_)) return go_down(engine, "cannot create a connection");
  const RedisTarget& t = options_.redis;
  for (Link* l : {&cmd_, &sub_}) {
    if (t.password.empty()) continue;
    if (t.user.empty())
      command(*l, nullptr, {"AUTH", t.password});
    else
      command(*l, nullptr, {"AUTH", t.user, t.password});
  }
  if (t.db) command(cmd_, nullptr, {"SELECT", number(t.db)});
  for (const char* script : {redis_scripts::kPublish, redis_scripts::kSync, redis_scripts::kFetch,
                             redis_scripts::kPresence, redis_scripts::kHeartbeat})
    command(cmd_, nullptr, {"SCRIPT", "LOAD", script});
  struct Ready final : RedisReply {
    Backplane* self;
    explicit Ready(Backplane* s) : self(s) {}
    void done(Engine& e, redisReply* r) override {
      if (!r || r->type == REDIS_REPLY_ERROR) return;  // go_down follows from the error path
      self->ready_pong_ = true;
      if (self->sub_.connected) self->became_ready(e);
    }
  };
  command(cmd_, new Ready(this), {"PING"});
}

void Backplane::became_ready(Engine& engine) {
  if (state_ != State::kConnecting) return;
  state_ = State::kUp;
  state_since_ = now_;
  attempts_ = 0;
  counters_.reactors_up.fetch_add(1, std::memory_order_relaxed);
  if (was_up_) counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
  was_up_ = true;
  log_event(LogLevel::kInfo, "backplane_up", "\"source\":\"%s\",\"redis\":\"%s:%u\"", source_.c_str(),
            options_.redis.address.c_str(), options_.redis.port);
  heartbeat();  // at once, so presence counts this reactor from the start
  if (listener_) listener_->on_backplane_up(engine);
}

void Backplane::go_down(Engine& engine, const char* why) {
  if (state_ == State::kDown) return;
  bool was = state_ == State::kUp;
  bool attempt = state_ == State::kConnecting;
  state_ = State::kDown;
  state_since_ = now_;
  if (was) {
    counters_.reactors_up.fetch_sub(1, std::memory_order_relaxed);
    log_event(LogLevel::kWarn, "backplane_down", "\"source\":\"%s\",\"error\":%s", source_.c_str(),
              (std::string("\"") + (why ? why : "") + "\"").c_str());
  }
  uint32_t shift = attempts_ < 4 ? attempts_ : 4;
  uint32_t backoff = std::min(kMaxBackoffSeconds, 1u << shift);
  rng_ = rng_ * 6364136223846793005ull + 1442695040888963407ull;
  uint32_t jittered = backoff / 2 + static_cast<uint32_t>((rng_ >> 33) % (backoff / 2 + 1));
  next_attempt_ = now_ + std::max(1u, jittered);
  ++attempts_;
  channels_.clear();
  // The rooms go local before the pending replies run (with null) and see them so; rooms
  // that waited for a connection attempt are answered locally too.
  if (listener_ && (was || attempt)) listener_->on_backplane_down(engine);
  free_links();
}

void Backplane::free_links() {
  for (Link* l : {&cmd_, &sub_}) {
    if (redisAsyncContext* ac = l->ac) {
      l->ac = nullptr;
      redisAsyncFree(ac);  // runs pending callbacks with null, then the cleanup hook
    }
  }
  outstanding_ = 0;
}

void Backplane::stop(Engine& engine) {
  engine_ = &engine;
  stopping_ = true;
  if (state_ == State::kUp) counters_.reactors_up.fetch_sub(1, std::memory_order_relaxed);
  state_ = State::kDown;
  free_links();
}

void Backplane::tick(Engine& engine) {
  engine_ = &engine;
  ++now_;
  if (stopping_) return;
  switch (state_) {
    case State::kDown:
      if (static_cast<int32_t>(now_ - next_attempt_) >= 0) connect(engine);
      return;
    case State::kConnecting:
      if (now_ - state_since_ > options_.redis_timeout) go_down(engine, "connect timed out");
      return;
    case State::kUp:
      break;
  }
  if (outstanding_ > 0 && now_ - progress_tick_ > options_.redis_timeout)
    return go_down(engine, "no reply within --redis-timeout");
  if (now_ != last_heartbeat_) heartbeat();  // doubles as the keep-alive: a reply every second
}

void Backplane::heartbeat() {
  last_heartbeat_ = now_;
  command(cmd_, nullptr, {"EVALSHA", sha_heartbeat_, "1", "ringws:live", source_, number(kHeartbeatTtlMs)});
}

// ---------------------------------------------------------------------------------------
// Commands

bool Backplane::command(Link& link, RedisReply* reply, std::initializer_list<std::string_view> args) {
  if (!link.ac) {
    delete reply;
    return false;
  }
  const char* argv[16];
  size_t argvlen[16];
  int argc = 0;
  for (std::string_view a : args) {
    argv[argc] = a.data();
    argvlen[argc] = a.size();
    ++argc;
  }
  bool cmd = &link == &cmd_;
  if (redisAsyncCommandArgv(link.ac, cmd ? on_command_reply : on_subscription_reply, cmd ? static_cast<void*>(reply) : static_cast<void*>(this), argc,
                            argv, argvlen) != REDIS_OK) {
    delete reply;
    return false;
  }
  if (cmd) {
    if (outstanding_++ == 0) progress_tick_ = now_;
    counters_.commands.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

void Backplane::on_command_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* link = static_cast<Link*>(ac->data);
  Backplane& self = *link->owner;
  if (self.outstanding_) --self.outstanding_;
  self.progress_tick_ = self.now_;
  auto* r = static_cast<redisReply*>(reply);
  auto* handler = static_cast<RedisReply*>(privdata);
  if (r && r->type == REDIS_REPLY_ERROR && !handler)
    log_event(LogLevel::kWarn, "backplane_error", "\"source\":\"%s\",\"error\":%s", self.source_.c_str(),
              (std::string("\"") + std::string(r->str, std::min<size_t>(r->len, 200)) + "\"").c_str());
  if (handler) {
    if (self.engine_) handler->done(*self.engine_, r);
    delete handler;
  }
  // A failed AUTH or SELECT leaves the connection useless.
  if (r && r->type == REDIS_REPLY_ERROR && self.state_ == State::kConnecting && self.engine_)
    self.go_down(*self.engine_, r->str);
}

bool Backplane::publish(std::string_view room, std::string_view body, uint64_t origin_us, uint64_t publisher_seq,
                        std::string_view epoch_candidate, RedisReply* reply) {
  if (state_ != State::kUp) {
    delete reply;
    return false;
  }
  std::string publisher = source_ + ":" + number(publisher_seq);
  return command(cmd_, reply,
                 {"EVALSHA", sha_publish_, "2", key(room, ":m"), key(room, ":s"), channel_of(room), body,
                  number(options_.history_size), number(options_.history_ttl), epoch_candidate, number(origin_us),
                  publisher, number(std::max(kMetaTtlMin, options_.history_ttl))});
}

bool Backplane::sync(std::string_view room, std::string_view token, std::string_view epoch_candidate,
                     RedisReply* reply) {
  if (state_ != State::kUp) {
    delete reply;
    return false;
  }
  return command(cmd_, reply,
                 {"EVALSHA", sha_sync_, "1", key(room, ":m"), channel_of(room), token, epoch_candidate,
                  number(std::max(kMetaTtlMin, options_.history_ttl))});
}

bool Backplane::fetch(std::string_view room, uint64_t after, RedisReply* reply) {
  if (state_ != State::kUp) {
    delete reply;
    return false;
  }
  return command(cmd_, reply,
                 {"EVALSHA", sha_fetch_, "2", key(room, ":m"), key(room, ":s"), number(after),
                  number(options_.history_ttl)});
}

bool Backplane::presence_set(std::string_view room, std::string_view value) {
  if (state_ != State::kUp) return false;
  if (value.empty()) return command(cmd_, nullptr, {"HDEL", key(room, ":p"), source_});
  return command(cmd_, nullptr, {"HSET", key(room, ":p"), source_, value}) &&
         command(cmd_, nullptr, {"EXPIRE", key(room, ":p"), number(kPresenceKeyTtl)});
}

bool Backplane::presence_query(std::string_view room, RedisReply* reply) {
  if (state_ != State::kUp) {
    delete reply;
    return false;
  }
  return command(cmd_, reply,
                 {"EVALSHA", sha_presence_, "2", key(room, ":p"), "ringws:live",
                  number(options_.presence_members ? RoomRegistry::kPresenceSample : 0)});
}

bool Backplane::publish_events(std::string_view room, std::string_view payload) {
  if (state_ != State::kUp) return false;
  return command(cmd_, nullptr, {"PUBLISH", channel_of(room), payload});
}

// ---------------------------------------------------------------------------------------
// Subscriptions

void Backplane::subscribe(std::string_view room) {
  if (state_ != State::kUp) return;
  std::string channel = channel_of(room);
  auto [it, fresh] = channels_.try_emplace(channel, ChanState{Chan::kSubscribing, true});
  it->second.wanted = true;
  if (fresh) {
    command(sub_, nullptr, {"SUBSCRIBE", channel});
  } else if (it->second.state == Chan::kSubscribed && listener_ && engine_) {
    listener_->on_subscribed(*engine_, room);
  }
  // kSubscribing: its confirmation follows; kUnsubscribing: subscribed again once it is done
  // (hiredis 0.14 must not see SUBSCRIBE for a channel whose UNSUBSCRIBE is pending).
}

void Backplane::unsubscribe(std::string_view room) {
  auto it = channels_.find(channel_of(room));
  if (it == channels_.end()) return;
  it->second.wanted = false;
  if (it->second.state == Chan::kSubscribed) {
    it->second.state = Chan::kUnsubscribing;
    command(sub_, nullptr, {"UNSUBSCRIBE", it->first});
  }
}

void Backplane::on_subscription_reply(redisAsyncContext*, void* reply, void* privdata) {
  auto& self = *static_cast<Backplane*>(privdata);
  if (!reply || !self.engine_ || self.stopping_) return;
  self.on_sub_reply(*self.engine_, static_cast<redisReply*>(reply));
}

void Backplane::on_sub_reply(Engine& engine, redisReply* r) {
  if (r->type == REDIS_REPLY_ERROR) return go_down(engine, r->str);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_STRING)
    return;
  std::string_view kind(r->element[0]->str, r->element[0]->len);
  std::string_view channel(r->element[1]->str, r->element[1]->len);
  // "ringws:{ROOM}" -> ROOM
  if (channel.size() < 9 || channel.substr(0, 8) != "ringws:{" || channel.back() != '}') return;
  std::string_view room = channel.substr(8, channel.size() - 9);
  if (kind == "message") {
    if (r->element[2]->type != REDIS_REPLY_STRING) return;
    counters_.received.fetch_add(1, std::memory_order_relaxed);
    if (listener_) listener_->on_channel_message(engine, room, {r->element[2]->str, r->element[2]->len});
    return;
  }
  auto it = channels_.find(std::string(channel));
  if (it == channels_.end()) return;
  if (kind == "subscribe") {
    it->second.state = Chan::kSubscribed;
    if (!it->second.wanted) {
      it->second.state = Chan::kUnsubscribing;
      command(sub_, nullptr, {"UNSUBSCRIBE", it->first});
    } else if (listener_) {
      listener_->on_subscribed(engine, room);
    }
  } else if (kind == "unsubscribe") {
    if (it->second.wanted) {
      it->second.state = Chan::kSubscribing;
      command(sub_, nullptr, {"SUBSCRIBE", it->first});
    } else {
      channels_.erase(it);
    }
  }
}

}  // namespace ringws
