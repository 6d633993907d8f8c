// The Redis backplane of one reactor (--redis): two hiredis async connections driven by the
// reactor's own loop (Engine::watch_fd; no thread, no blocking call), one for commands and
// one for pub/sub. Each reactor has its own pair and subscribes the channels of the rooms
// whose home it is (chat/room_home.h), so a message that arrives from Redis is parsed once
// per instance and shared by reference with every member on every reactor.
//
// Life: down -> connecting (both connections, AUTH/SELECT, SCRIPT LOAD, then PING) -> up ->
// down on any error, on a reply slower than --redis-timeout (a stopped Redis keeps its TCP
// connections open), or on exit. Reconnects back off exponentially with jitter (1 s to 10
// s, from App::on_tick: the hiredis adapter has no timers). Going down runs every pending
// reply callback with a null reply, so nothing waits forever.
//
// Keys, all of one room under one hash tag: ringws:{ROOM}:m (hash: o = last offset,
// e = epoch), ringws:{ROOM}:s (stream: history), ringws:{ROOM}:p (hash: presence, a field per
// instance reactor); the channel is ringws:{ROOM}. ringws:live (sorted set) holds each
// instance reactor's presence expiry. Channel payloads: "M<offset> <epoch> <origin_us>
// <publisher> <body>" (a message), "S<token> <offset> <epoch>" (a subscriber's sync marker),
// "E<events>" (member joins and leaves).
#pragma once

#include <hiredis/async.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/chat_options.h"
#include "chat/chat_shared.h"
#include "core/backend.h"

namespace ringws {

class Engine;

/// What the backplane tells the room home of its reactor.
class BackplaneListener {
 public:
  virtual void on_backplane_up(Engine&) = 0;
  virtual void on_backplane_down(Engine&) = 0;
  /// The channel of `room` is subscribed (the sync marker can be published now).
  virtual void on_subscribed(Engine&, std::string_view room) = 0;
  virtual void on_channel_message(Engine&, std::string_view room, std::string_view payload) = 0;

 protected:
  ~BackplaneListener() = default;
};

/// A command's reply handler, owned by the backplane from the moment it is sent; `reply` is
/// null when the connection was lost first. Deleted after done().
class RedisReply {
 public:
  virtual ~RedisReply() = default;
  virtual void done(Engine&, redisReply* reply) = 0;
};

class Backplane {
 public:
  Backplane(const ChatOptions& options, BackplaneCounters& counters);
  /// "<instance>.<reactor>", known once the reactor runs (before the first tick).
  void set_source(std::string source) { source_ = std::move(source); }
  ~Backplane();
  Backplane(const Backplane&) = delete;
  Backplane& operator=(const Backplane&) = delete;

  void set_listener(BackplaneListener& listener) { listener_ = &listener; }
  /// Once a second: connects, reconnects after its backoff, pings, notices timeouts.
  void tick(Engine& engine);
  /// The process is exiting: close both connections (pending replies run with null).
  void stop(Engine& engine);
  bool up() const { return state_ == State::kUp; }
  /// A connection attempt is under way (new rooms wait for its outcome, at most --redis-timeout).
  bool connecting() const { return state_ == State::kConnecting; }
  /// "<instance>.<reactor>": names this reactor in presence fields and sync tokens.
  const std::string& source() const { return source_; }

  void subscribe(std::string_view room);
  void unsubscribe(std::string_view room);

  /// Commands on the command connection; false (and `reply` deleted) when down.
  bool publish(std::string_view room, std::string_view body, uint64_t origin_us, uint64_t publisher_seq,
               std::string_view epoch_candidate, RedisReply* reply);
  bool sync(std::string_view room, std::string_view token, std::string_view epoch_candidate, RedisReply* reply);
  /// History after `after`: reply [epoch, last offset, first offset held, o1, b1, o2, b2, ...].
  bool fetch(std::string_view room, uint64_t after, RedisReply* reply);
  /// Sets (value non-empty) or clears this reactor's presence field of `room`.
  bool presence_set(std::string_view room, std::string_view value);
  /// Reply [count, [ids...]] over every live instance reactor.
  bool presence_query(std::string_view room, RedisReply* reply);
  bool publish_events(std::string_view room, std::string_view payload);

  static std::string channel_of(std::string_view room);

 private:
  enum class State : uint8_t { kDown, kConnecting, kUp };
  enum class Chan : uint8_t { kSubscribing, kSubscribed, kUnsubscribing };
  struct ChanState {
    Chan state;
    bool wanted;
  };
  /// One hiredis connection and its watch on the reactor's loop.
  struct Link final : FdWatcher {
    Backplane* owner = nullptr;
    redisAsyncContext* ac = nullptr;
    int fd = -1;
    bool reading = false, writing = false, connected = false;
    void on_fd_ready(int fd, bool readable, bool writable, bool failed) override;
    void update();
  };

  void connect(Engine& engine);
  void go_down(Engine& engine, const char* why);
  void free_links();
  bool open_link(Link& link);
  bool command(Link& link, RedisReply* reply, std::initializer_list<std::string_view> args);
  void became_ready(Engine& engine);
  void heartbeat();
  void on_sub_reply(Engine& engine, redisReply* reply);

  static void adapter_add_read(void* p);
  static void adapter_del_read(void* p);
  static void adapter_add_write(void* p);
  static void adapter_del_write(void* p);
  static void adapter_cleanup(void* p);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_command_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_subscription_reply(redisAsyncContext* ac, void* reply, void* privdata);

  const ChatOptions& options_;
  BackplaneCounters& counters_;
  std::string source_;
  BackplaneListener* listener_ = nullptr;
  Engine* engine_ = nullptr;
  Link cmd_, sub_;
  State state_ = State::kDown;
  bool was_up_ = false;
  bool ready_pong_ = false;  ///< the command connection answered the PING after SCRIPT LOAD
  bool stopping_ = false;
  uint32_t now_ = 0;             ///< ticks since start
  uint32_t next_attempt_ = 0;    ///< tick of the next connection attempt
  uint32_t attempts_ = 0;        ///< failed attempts in a row, for the backoff
  uint32_t state_since_ = 0;     ///< tick the state was entered
  uint32_t outstanding_ = 0;     ///< command replies not yet received
  uint32_t progress_tick_ = 0;   ///< tick of the last reply (or of the first command sent after none)
  uint32_t last_heartbeat_ = 0;
  uint64_t rng_;
  std::unordered_map<std::string, ChanState> channels_;
  std::string sha_publish_, sha_sync_, sha_fetch_, sha_presence_, sha_heartbeat_;
};

}  // namespace ringws
