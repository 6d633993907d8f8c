// --app chat: rooms across every reactor and, with --redis, every instance; the protocol is
// docs/protocol.md. This file is the glue: it parses a message (chat/protocol.h), checks it,
// and acts through one function per request (join, leave, publish, presence), each the
// place for a permission check. Memberships live in chat/rooms.h; a room's messages are
// numbered and sent by its home reactor (chat/room_home.h), through Redis with --redis
// (chat/backplane.h).
//
// Connections are named only by ConnId, and every callback that can close a connection (a
// reply over --max-backlog closes it as a slow consumer) is followed by a check that it is
// still open.
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chat/backplane.h"
#include "chat/chat_options.h"
#include "chat/chat_shared.h"
#include "chat/posts.h"
#include "chat/protocol.h"
#include "chat/room_home.h"
#include "chat/rooms.h"
#include "chat/chat_policy.h"
#include "core/clock.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"
#include "core/server_state.h"

namespace ringws {

namespace {

constexpr ChatError kBinary{"binary_not_supported", "messages are JSON text"};
constexpr ChatError kBadJson{"bad_json", "expected a JSON object"};
constexpr ChatError kTooManyRooms{"too_many_rooms", "already in --max-rooms-per-connection rooms"};
constexpr ChatError kTableFull{"too_many_rooms", "the server's room table is full"};
constexpr ChatError kNotJoinedLeave{"not_joined", "not a member of that room"};
constexpr ChatError kNotJoinedPublish{"not_joined", "publish to a room you have joined"};
constexpr ChatError kTooLarge{"payload_too_large", "data longer than --max-publish-bytes"};
constexpr ChatError kNoMemory{"internal", "out of memory"};
constexpr uint32_t kPresenceRefreshTicks = 30;  // every room's presence field is rewritten this often

/// A join as the app acts on it (from a message or from the URL).
struct JoinArgs {
  std::string_view room;
  bool has_since = false;
  uint64_t since_offset = 0;
  std::string_view since_epoch;
  bool events = false;
};

}  // namespace

class ChatApp final : public App {
 public:
  ChatApp(const ChatOptions& options, ChatShared& shared, unsigned reactor)
      : options_(options),
        shared_(shared),
        rooms_(shared.registry, reactor, options.presence_members),
        backplane_(options.backplane() ? std::make_unique<Backplane>(options, shared.backplane) : nullptr),
        home_(options, shared, rooms_, backplane_.get()) {}

  void on_attach(Engine& engine) override { define_chat_rates(engine, options_); }

  void on_open(Engine& engine, ConnId conn, std::string_view target) override {
    start(engine);
    send_text(engine, conn, hello_text(id_of(engine, conn), user_of(engine, conn)));
    // Rooms named in the query join as if the client had sent join; since=N&epoch=E after a
    // room recover that room. Any reply can close a client that does not read: stop then.
    size_t q = target.find('?');
    std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    std::vector<std::pair<std::string, JoinArgs>> joins;
    std::string epoch_text;
    std::vector<std::string> epochs;
    epochs.reserve(16);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      size_t eq = pair.find('=');
      std::string_view name = pair.substr(0, eq);
      std::string value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      if (name == "room") {
        joins.emplace_back(value, JoinArgs{});
      } else if (!joins.empty() && name == "since") {
        JoinArgs& j = joins.back().second;
        j.has_since = parse_offset(value, j.since_offset);
      } else if (!joins.empty() && name == "epoch") {
        epochs.push_back(value);
        joins.back().second.since_epoch = epochs.back();
      } else if (!joins.empty() && name == "events") {
        joins.back().second.events = value == "true" || value == "1";
      }
    }
    for (auto& [room, args] : joins) {
      if (!engine.is_open(conn)) break;
      args.room = room;
      if (args.since_epoch.empty()) args.has_since = false;
      join(engine, conn, args, /*from_url=*/true);
    }
  }

  void on_message(Engine& engine, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (opcode != Opcode::kText) return error(engine, conn, kBinary);
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    // simdjson reads past the end: parse from a padded buffer this reactor reuses.
    padded_.assign(text);
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element root;
    if (parser_.parse(padded_.data(), text.size(), false).get(root) != simdjson::SUCCESS || !root.is_object())
      return error(engine, conn, kBadJson);
    ChatRequest req;
    if (const ChatError* e = parse_request(root, req)) return error(engine, conn, *e);
    switch (req.type) {
      case ChatRequest::Type::kJoin:
        return join(engine, conn, {req.room, req.has_since, req.since_offset, req.since_epoch, req.events}, false);
      case ChatRequest::Type::kLeave:
        return leave(engine, conn, req.room);
      case ChatRequest::Type::kPublish:
        return publish(engine, conn, req.room, req.data);
      case ChatRequest::Type::kPresence:
        return presence(engine, conn, req.room);
      case ChatRequest::Type::kRefresh:
        if (handle_refresh(engine, conn, req.token)) leave_rooms_not_allowed(engine, conn);
        return;
    }
  }

  void on_close(Engine& engine, ConnId conn, uint32_t app_word) override {
    // The connection is gone: every membership in its list leaves its room.
    std::string id = presence_id(engine, conn);
    for (uint32_t m = app_word; m;) {
      uint32_t next = rooms_.membership(m - 1)->next;
      remove_membership(engine, m - 1, id);
      m = next;
    }
  }

  void on_posted(Engine& engine, SharedFrame* frame, uint32_t tag) override {
    start(engine);
    if (exiting_ && (tag & kControlBit)) {
      if (static_cast<PostKind>(tag) == PostKind::kJoinAck) {
        JoinAckPost p;
        if (decode(*frame, p))
          for (SharedFrame* f : p.replay) f->release();
      }
      frame->release();
      return;
    }
    if (tag & kControlBit) {
      on_control(engine, frame, static_cast<PostKind>(tag));
      frame->release();
      return;
    }
    Rooms::LocalRoom* room = rooms_.room_by_id(tag & ~kEventsBit);
    if (!room) {
      frame->release();  // the last local member left after the home looked
      return;
    }
    rooms_.deliver(engine, *room, frame, tag & kEventsBit);
  }

  void on_tick(Engine& engine) override {
    start(engine);
    ++ticks_;
    if (backplane_) {
      backplane_->tick(engine);
      bool up = backplane_->up();
      if (up && (!was_up_ || ticks_ % kPresenceRefreshTicks == 0)) mark_all_dirty();
      was_up_ = up;
      flush_presence();
      flush_events(engine);
    }
    home_.tick(engine);
  }

  void on_exit(Engine& engine) override {
    // From here on nothing is posted to other reactors (they may have stopped reading their
    // posts): the rooms go first, so the replies the backplane's close runs find none.
    exiting_ = true;
    home_.exit(engine);
    if (backplane_) backplane_->stop(engine);
  }

 private:
  /// The first callback on the reactor's thread: the backplane needs the engine (its
  /// instance name) and runs on this thread from here on.
  void start(Engine& engine) {
    if (started_) return;
    started_ = true;
    engine_ = &engine;
    if (backplane_) {
      char source[48];
      std::snprintf(source, sizeof source, "%s.%x", engine.state().instance.c_str(), engine.id());
      backplane_->set_source(source);
      backplane_->tick(engine);  // the first connection attempt, now
    }
  }

  static std::string id_of(Engine& engine, ConnId conn) {
    char id[kConnIdTextSize];
    return std::string(id, engine.conn_text(conn, id));
  }
  /// The id presence lists and events name (any reactor's member may have asked for events).
  std::string presence_id(Engine& engine, ConnId conn) { return id_of(engine, conn); }

  void send_text(Engine& engine, ConnId conn, std::string_view text) {
    if (SharedFrame* f = make_text_frame(text)) engine.send(conn, f);
  }
  void error(Engine& engine, ConnId conn, const ChatError& e) { send_text(engine, conn, error_text(e)); }

  unsigned home(Engine& engine, std::string_view room) const { return home_of(room, engine.reactor_count()); }

  // ---- Requests -------------------------------------------------------------------------

  /// A join from a message, or from the URL (`from_url`): URL rooms take no join token, as
  /// they come once per connection, bounded by --max-rooms-per-connection, and an idle
  /// connection then never holds a limiter record.
  void join(Engine& engine, ConnId conn, const JoinArgs& args, bool from_url) {
    if (const ChatError* e = check_room_name(args.room, options_.max_room_name)) return error(engine, conn, *e);
    if ((!from_url && !admit_join_or_leave(engine, conn)) || !admit_join(engine, conn, args.room)) return;
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;  // closed meanwhile (a slow consumer)
    uint32_t count = 0;
    JoinPost post;
    post.reactor = engine.id();
    post.conn = conn;
    post.room.assign(args.room);
    uint32_t m = rooms_.find(head, args.room, &count);
    if (m != kNoSlot) {
      // Already a member: the answer names the room's current offset, nothing is replayed.
      return route_join(engine, std::move(post));
    }
    if (count >= options_.max_rooms_per_connection) return error(engine, conn, kTooManyRooms);
    std::string id = presence_id(engine, conn);
    m = rooms_.add(conn, head, args.room, Rooms::kPending | (args.events ? Rooms::kEvents : 0), id);
    if (m == kNoSlot) return error(engine, conn, kTableFull);
    engine.set_app_word(conn, m + 1);  // open: app_word succeeded above, and nothing ran since
    membership_changed(engine, args.room, true, id);
    post.has_since = args.has_since;
    post.since_offset = args.since_offset;
    post.since_epoch.assign(args.since_epoch);
    route_join(engine, std::move(post));
  }

  void route_join(Engine& engine, JoinPost&& post) {
    unsigned h = home(engine, post.room);
    if (h == engine.id()) return home_.join(engine, std::move(post));
    if (SharedFrame* f = encode(post)) engine.post(h, f, static_cast<uint32_t>(PostKind::kJoin));
  }

  void leave(Engine& engine, ConnId conn, std::string_view room) {
    if (const ChatError* e = check_room_name(room, options_.max_room_name)) return error(engine, conn, *e);
    if (!admit_join_or_leave(engine, conn)) return;
    leave_unchecked(engine, conn, room);
  }

  /// After a refresh: the rooms the new token no longer allows are left (with a "left").
  void leave_rooms_not_allowed(Engine& engine, ConnId conn) {
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    std::vector<std::string> revoked;
    for (uint32_t m = head; m; m = rooms_.membership(m - 1)->next) {
      const std::string& name = rooms_.room(rooms_.membership(m - 1)->room)->name;
      if (!may_stay(engine, conn, name)) revoked.push_back(name);
    }
    for (const std::string& room : revoked) {
      if (!engine.is_open(conn)) return;
      leave_unchecked(engine, conn, room);
    }
  }

  void leave_unchecked(Engine& engine, ConnId conn, std::string_view room) {
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    uint32_t m = rooms_.find(head, room);
    if (m == kNoSlot) return error(engine, conn, kNotJoinedLeave);
    std::string name(room);  // `room` may view the record freed below
    engine.set_app_word(conn, rooms_.unlink(head, m));
    remove_membership(engine, m, presence_id(engine, conn));
    send_text(engine, conn, left_text(name));
  }

  void publish(Engine& engine, ConnId conn, std::string_view room, simdjson::dom::element data) {
    if (const ChatError* e = check_room_name(room, options_.max_room_name)) return error(engine, conn, *e);
    if (!admit_publish(engine, conn, room, options_)) return;
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    if (rooms_.find(head, room) == kNoSlot) return error(engine, conn, kNotJoinedPublish);
    std::string data_json = simdjson::minify(data);
    if (data_json.size() > options_.max_publish_bytes) return error(engine, conn, kTooLarge);
    PublishPost post;
    post.origin_ns = engine.now_ns();
    post.room.assign(room);
    post.body = message_body(id_of(engine, conn), user_of(engine, conn), wall_ms(), data_json);
    unsigned h = home(engine, room);
    if (h == engine.id()) return home_.publish(engine, std::move(post));
    SharedFrame* f = encode(post);
    if (!f) return error(engine, conn, kNoMemory);
    engine.post(h, f, static_cast<uint32_t>(PostKind::kPublish));
  }

  void presence(Engine& engine, ConnId conn, std::string_view room) {
    if (const ChatError* e = check_room_name(room, options_.max_room_name)) return error(engine, conn, *e);
    if (backplane_ && backplane_->up()) {
      flush_presence();  // this reactor's own changes first, on the same connection
      struct Answer final : RedisReply {
        ChatApp* app;
        ConnId conn;
        std::string room;
        void done(Engine& e, redisReply* r) override {
          if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_INTEGER)
            return app->local_presence(e, conn, room);
          std::vector<std::string> ids;
          redisReply* list = r->element[1];
          if (list->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < list->elements; ++i)
              if (list->element[i]->type == REDIS_REPLY_STRING) ids.emplace_back(list->element[i]->str, list->element[i]->len);
          app->send_text(e, conn,
                         presence_text(room, static_cast<uint64_t>(std::max<long long>(0, r->element[0]->integer)),
                                       app->options_.presence_members ? &ids : nullptr));
        }
      };
      auto* answer = new Answer;
      answer->app = this;
      answer->conn = conn;
      answer->room.assign(room);
      if (backplane_->presence_query(room, answer)) return;
    }
    local_presence(engine, conn, room);
  }

  /// Presence from this process alone (no backplane, or it is down).
  void local_presence(Engine& engine, ConnId conn, std::string_view room) {
    uint64_t count = 0;
    std::vector<std::string> ids;
    {
      std::unique_lock<std::mutex> hold;
      if (RoomRegistry::Room* r = shared_.registry.find(room, hold)) {
        count = static_cast<uint64_t>(std::max<int64_t>(0, r->members.load(std::memory_order_relaxed)));
        if (options_.presence_members) {
          std::lock_guard sample(r->sample_mu);
          ids = r->sample;
        }
      }
    }
    send_text(engine, conn, presence_text(room, count, options_.presence_members ? &ids : nullptr));
  }

  // ---- Membership changes -----------------------------------------------------------------

  void remove_membership(Engine& engine, uint32_t m, const std::string& id) {
    std::string emptied;
    std::string room = rooms_.room(rooms_.membership(m)->room)->name;
    if (rooms_.remove(m, emptied, id) && !exiting_) {
      unsigned h = home(engine, emptied);
      if (h == engine.id())
        home_.released(engine, emptied);
      else if (SharedFrame* f = encode_released(emptied))
        engine.post(h, f, static_cast<uint32_t>(PostKind::kReleased));
    }
    if (!exiting_) membership_changed(engine, room, false, id);
  }

  /// Presence and events follow a join or a leave: without the backplane events go out at
  /// once; with it, both go to Redis once a second (one command per room that changed).
  void membership_changed(Engine& engine, std::string_view room, bool joined, const std::string& id) {
    if (backplane_) {
      if (dirty_set_.insert(std::string(room)).second) dirty_.emplace_back(room);
      std::string& ev = events_[std::string(room)];
      if (ev.size() < 100 * 40) ev.append(joined ? " J:" : " L:").append(id);
      return;
    }
    std::unique_lock<std::mutex> hold;
    RoomRegistry::Room* r = shared_.registry.find(room, hold);
    if (!r || r->listeners.load(std::memory_order_relaxed) == 0) return;
    uint64_t mask = r->reactors.load(std::memory_order_acquire) & ~RoomRegistry::kHomeBit;
    uint32_t tag = r->id | kEventsBit;
    hold.unlock();  // the room may go now; posts naming its id then find nothing
    SharedFrame* f = make_text_frame(member_event_text(joined, room, id));
    if (!f) return;
    for (unsigned peer = 0; mask; ++peer, mask >>= 1) {
      if (!(mask & 1)) continue;
      f->retain();
      engine.post(peer, f, tag);
    }
    f->release();
  }

  void mark_all_dirty() {
    // Every local room (its field rewritten); rooms that emptied are already listed.
    for (const std::string& name : rooms_.names())
      if (dirty_set_.insert(name).second) dirty_.push_back(name);
  }

  void flush_presence() {
    if (!backplane_ || !backplane_->up()) return;
    for (const std::string& name : dirty_) {
      std::string value;
      if (Rooms::LocalRoom* r = rooms_.room_by_name(name)) {
        value = std::to_string(r->members.size());
        size_t listed = 0;
        for (uint32_t m : r->members) {
          if (!options_.presence_members || listed++ >= RoomRegistry::kPresenceSample) break;
          char id[kConnIdTextSize];
          value += ' ';
          value.append(id, engine_->conn_text(rooms_.membership(m)->conn(), id));
        }
      }
      backplane_->presence_set(name, value);
    }
    dirty_.clear();
    dirty_set_.clear();
  }

  void flush_events(Engine&) {
    if (!backplane_->up()) {
      events_.clear();
      return;
    }
    for (auto& [room, ev] : events_) {
      ev[0] = 'E';  // " J:id L:id" -> "EJ:id L:id": the payload's kind, then its words
      backplane_->publish_events(room, ev);
    }
    events_.clear();
  }

  // ---- Posts from other reactors ------------------------------------------------------------

  void on_control(Engine& engine, SharedFrame* frame, PostKind kind) {
    switch (kind) {
      case PostKind::kJoin: {
        JoinPost p;
        if (decode(*frame, p)) home_.join(engine, std::move(p));
        return;
      }
      case PostKind::kPublish: {
        PublishPost p;
        if (decode(*frame, p)) home_.publish(engine, std::move(p));
        return;
      }
      case PostKind::kReleased: {
        std::string room;
        if (decode_released(*frame, room)) home_.released(engine, room);
        return;
      }
      case PostKind::kJoinAck: {
        JoinAckPost p;
        if (decode(*frame, p)) on_join_ack(engine, p);
        return;
      }
    }
  }

  /// The home's answer to a join: "joined", then the replay, then (already queued behind
  /// it by the home) the live messages.
  void on_join_ack(Engine& engine, JoinAckPost& ack) {
    uint32_t head = 0;
    uint32_t m = engine.app_word(ack.conn, head) ? rooms_.find(head, ack.room) : kNoSlot;
    if (m == kNoSlot) {
      for (SharedFrame* f : ack.replay) f->release();  // it left or closed meanwhile
      return;
    }
    Rooms::Membership& ms = *rooms_.membership(m);
    bool pending = ms.flags & Rooms::kPending;
    ms.flags &= static_cast<uint8_t>(~Rooms::kPending);
    send_text(engine, ack.conn, joined_text(ack.room, ack.offset, ack.epoch, ack.recovered));
    for (SharedFrame* f : ack.replay) {
      if (pending) engine.send(ack.conn, f);  // a closed connection releases it
      else f->release();
    }
  }

  const ChatOptions& options_;
  ChatShared& shared_;
  Rooms rooms_;
  std::unique_ptr<Backplane> backplane_;
  RoomHome home_;
  Engine* engine_ = nullptr;
  bool started_ = false;
  bool was_up_ = false;
  bool exiting_ = false;  ///< on_exit ran: nothing more is posted
  uint32_t ticks_ = 0;
  std::vector<std::string> dirty_;
  std::unordered_set<std::string> dirty_set_;
  std::unordered_map<std::string, std::string> events_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

/// --app chat for the whole process: one room registry, the chat figures for /metrics.
class ChatModule final : public AppModule {
 public:
  explicit ChatModule(const ChatOptions& options) : options_(options) {}
  std::unique_ptr<App> make_app(unsigned reactor) override {
    shared_.reactors = reactor + 1;
    return std::make_unique<ChatApp>(options_, shared_, reactor);
  }
  void render_metrics(std::string& out) const override;

 private:
  const ChatOptions& options_;
  ChatShared shared_;
};

namespace {

void gauge(std::string& out, const char* name, const char* type, const char* help, uint64_t value) {
  char line[512];
  std::snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                static_cast<unsigned long long>(value));
  out += line;
}

uint64_t load(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }
uint64_t load(const std::atomic<int64_t>& a) {
  return static_cast<uint64_t>(std::max<int64_t>(0, a.load(std::memory_order_relaxed)));
}

}  // namespace

void ChatModule::render_metrics(std::string& out) const {
  const BackplaneCounters& b = shared_.backplane;
  gauge(out, "ringws_rooms", "gauge", "Chat rooms with at least one member in this process.",
        shared_.registry.with_members());
  gauge(out, "ringws_history_messages", "gauge", "Messages held in in-process history (without --redis).",
        load(shared_.history.messages));
  gauge(out, "ringws_history_bytes", "gauge", "Bytes held by in-process history (without --redis).",
        load(shared_.history.bytes));
  bool all_up = options_.backplane() && load(b.reactors_up) == shared_.reactors;
  gauge(out, "ringws_backplane_up", "gauge", "1 when every reactor's Redis connections are up (--redis).", all_up);
  gauge(out, "ringws_backplane_reactors_up", "gauge", "Reactors whose Redis connections are up.", load(b.reactors_up));
  gauge(out, "ringws_backplane_published_total", "counter", "Publishes Redis numbered and broadcast.",
        load(b.published));
  gauge(out, "ringws_backplane_received_total", "counter", "Messages that arrived from Redis.", load(b.received));
  gauge(out, "ringws_backplane_reconnects_total", "counter", "Redis connections re-established after a loss.",
        load(b.reconnects));
  gauge(out, "ringws_backplane_local_only_total", "counter",
        "Publishes delivered to this instance's members only (the backplane was down).", load(b.local_only));
  gauge(out, "ringws_backplane_gaps_total", "counter", "Offset jumps seen on a room's channel.", load(b.gaps));
  gauge(out, "ringws_backplane_commands_total", "counter", "Commands sent to Redis.", load(b.commands));
  out += "# HELP ringws_backplane_delivery_latency_seconds From the publish at its instance to its arrival here "
         "through Redis (wall clocks).\n# TYPE ringws_backplane_delivery_latency_seconds histogram\n";
  char line[160];
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= LatencyHistogram::kBounds.size(); ++i) {
    cumulative += b.latency.bucket(i);
    if (i < LatencyHistogram::kBounds.size())
      std::snprintf(line, sizeof line, "ringws_backplane_delivery_latency_seconds_bucket{le=\"%g\"} %llu\n",
                    LatencyHistogram::kBounds[i], static_cast<unsigned long long>(cumulative));
    else
      std::snprintf(line, sizeof line, "ringws_backplane_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
                    static_cast<unsigned long long>(cumulative));
    out += line;
  }
  std::snprintf(line, sizeof line,
                "ringws_backplane_delivery_latency_seconds_sum %.9f\nringws_backplane_delivery_latency_seconds_count %llu\n",
                static_cast<double>(b.latency.sum_ns()) * 1e-9, static_cast<unsigned long long>(cumulative));
  out += line;
}

std::unique_ptr<AppModule> make_chat_module(const ChatOptions& options) { return std::make_unique<ChatModule>(options); }

}  // namespace ringws
