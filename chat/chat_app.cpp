// --app chat: rooms across every reactor, the protocol in docs/protocol.md.
//
// Memory: a membership is a 20-byte slab record linked from the connection's app word
// plus 4 bytes in its room's member vector; a room is one record per reactor that has
// members, plus one registry entry per process. A publish is serialized once; other
// reactors get the same frame by reference, and only those with members in the room.
//
// Connections are named only by ConnId. A membership keeps its connection's whole id, so
// even a membership that outlived its connection could never deliver to the slot's next
// occupant; and every callback that can close a connection (a reply over --max-backlog
// closes it as a slow consumer) is followed by a check that it is still open.
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "alloc/slab.h"
#include "chat/chat_options.h"
#include "chat/chat_policy.h"
#include "chat/room_registry.h"
#include "core/clock.h"
#include "core/engine/app.h"
#include "core/engine/engine.h"

namespace ringws {

namespace {

constexpr uint32_t kMaxRoomsPerReactor = 1u << 20;
constexpr uint32_t kMaxMemberships = 1u << 23;

bool valid_room_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
         ch == '_' || ch == '-' || ch == ':';
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/// Percent-decodes a query value ('+' is a space); malformed escapes are kept as they are
/// and then fail the room-name check.
std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i] == '+' ? ' ' : in[i];
    }
  }
  return out;
}

/// What the chat module shares across its reactors' apps.
struct ChatShared {
  RoomRegistry registry;
  std::atomic<uint64_t> rooms{0};  ///< rooms with a member anywhere in the process
};

}  // namespace

class ChatApp final : public App {
 public:
  ChatApp(const ChatOptions& options, ChatShared& shared)
      : options_(options), shared_(shared), rooms_(kMaxRoomsPerReactor), memberships_(kMaxMemberships) {}

  void on_attach(Engine& engine) override { define_chat_rates(engine, options_); }

  void on_open(Engine& engine, ConnId conn, std::string_view target) override {
    std::string hello = "{\"type\":\"hello\",\"id\":\"" + id_text(engine, conn) + "\"";
    append_user_field(hello, engine, conn);
    send_text(engine, conn, hello += '}');
    // Rooms named in the query join as if the client had sent join, for as long as the
    // connection stays open: any reply can close a client that does not read.
    size_t q = target.find('?');
    std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    while (!query.empty() && engine.is_open(conn)) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      // URL rooms take no join token: they come once per connection, bounded by
      // --max-rooms-per-connection, and an idle connection then never holds a limiter record.
      if (pair.substr(0, 5) == "room=") join(engine, conn, percent_decode(pair.substr(5)), /*from_url=*/true);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    }
  }

  void on_message(Engine& engine, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (opcode != Opcode::kText) return error(engine, conn, "binary_not_supported", "messages are JSON text");
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    // simdjson reads past the end: parse from a padded buffer this reactor reuses.
    padded_.assign(text);
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element root;
    if (parser_.parse(padded_.data(), text.size(), false).get(root) != simdjson::SUCCESS || !root.is_object())
      return error(engine, conn, "bad_json", "expected a JSON object");
    std::string_view type;
    if (root["type"].get_string().get(type) != simdjson::SUCCESS)
      return error(engine, conn, "unknown_type", "type must be join, leave, publish or refresh");
    if (type == "refresh") {
      if (handle_refresh(engine, conn, root)) leave_rooms_not_allowed(engine, conn);
      return;
    }
    if (type != "join" && type != "leave" && type != "publish")
      return error(engine, conn, "unknown_type", "type must be join, leave, publish or refresh");
    std::string_view room;
    if (root["room"].get_string().get(room) != simdjson::SUCCESS)
      return error(engine, conn, "bad_room", "room must be a string");
    if (type == "join") return join(engine, conn, room);
    if (type == "leave") return leave(engine, conn, room);
    simdjson::dom::element data;
    if (root["data"].get(data) != simdjson::SUCCESS) return error(engine, conn, "missing_data", "publish needs data");
    publish(engine, conn, room, data);
  }

  void on_close(Engine& engine, ConnId, uint32_t app_word) override {
    // The connection is gone: every membership in its list leaves its room.
    for (uint32_t m = app_word; m;) {
      uint32_t next = memberships_.get(m - 1)->next;
      remove_from_room(engine, m - 1);
      m = next;
    }
  }

  void on_posted(Engine& engine, SharedFrame* frame, uint32_t room_id) override {
    auto it = room_by_id_.find(room_id);
    if (it == room_by_id_.end()) {
      frame->release();  // the last local member left after the publisher looked
      return;
    }
    deliver(engine, *rooms_.get(it->second), frame);
  }

 private:
  struct LocalRoom {
    std::string name;
    RoomRegistry::Room* global = nullptr;
    std::vector<uint32_t> members;  ///< membership indices
  };
  struct Membership {
    ConnId conn;    ///< the member, index and generation
    uint32_t room;  ///< LocalRoom index
    uint32_t pos;   ///< position in the room's member vector
    uint32_t next;  ///< the connection's next membership + 1; 0 ends the list
  };

  static std::string id_text(Engine& engine, ConnId conn) {
    char id[32];
    std::snprintf(id, sizeof id, "%x.%x.%x", engine.id(), conn.index, conn.generation);
    return id;
  }

  void send_text(Engine& engine, ConnId conn, std::string_view text) {
    if (SharedFrame* f = make_text_frame(text)) engine.send(conn, f);
  }

  /// `code` and `reason` are fixed ASCII texts: no JSON escaping needed.
  void error(Engine& engine, ConnId conn, const char* code, const char* reason) {
    char msg[256];
    int n = std::snprintf(msg, sizeof msg, "{\"type\":\"error\",\"code\":\"%s\",\"reason\":\"%s\"}", code, reason);
    send_text(engine, conn, {msg, static_cast<size_t>(n)});
  }

  /// Checks a room name; sends the error and returns false when it is not acceptable.
  bool check_room(Engine& engine, ConnId conn, std::string_view room) {
    if (room.size() > options_.max_room_name) {
      error(engine, conn, "room_name_too_long", "room name longer than --max-room-name");
      return false;
    }
    bool ok = !room.empty();
    for (char ch : room) ok = ok && valid_room_char(ch);
    if (!ok) error(engine, conn, "bad_room", "room names are 1 or more of A-Z a-z 0-9 . _ - :");
    return ok;
  }

  /// The membership of `conn` in `room`, or kNoSlot; counts its memberships into `count`.
  uint32_t find_membership(uint32_t head, std::string_view room, uint32_t* count = nullptr) {
    uint32_t n = 0, found = kNoSlot;
    for (uint32_t m = head; m; m = memberships_.get(m - 1)->next, ++n)
      if (found == kNoSlot && rooms_.get(memberships_.get(m - 1)->room)->name == room) found = m - 1;
    if (count) *count = n;
    return found;
  }

  void reply_room(Engine& engine, ConnId conn, const char* type, std::string_view room) {
    std::string msg = "{\"type\":\"";
    msg.append(type).append("\",\"room\":\"").append(room).append("\"}");
    send_text(engine, conn, msg);
  }

  void join(Engine& engine, ConnId conn, std::string_view room, bool from_url = false) {
    if (!check_room(engine, conn, room)) return;
    if ((!from_url && !admit_join_or_leave(engine, conn)) || !admit_join(engine, conn, room)) return;
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;  // closed meanwhile (a slow consumer)
    uint32_t count = 0;
    if (find_membership(head, room, &count) != kNoSlot) return reply_room(engine, conn, "joined", room);
    if (count >= options_.max_rooms_per_connection)
      return error(engine, conn, "too_many_rooms", "already in --max-rooms-per-connection rooms");
    // The membership first: a room must never exist without a member.
    uint32_t m = memberships_.allocate();
    if (m == kNoSlot) return error(engine, conn, "too_many_rooms", "the server's membership table is full");
    uint32_t room_index;
    if (auto it = room_by_name_.find(room); it != room_by_name_.end()) {
      room_index = it->second;
    } else {
      room_index = rooms_.allocate();
      if (room_index == kNoSlot) {
        memberships_.free(m);
        return error(engine, conn, "too_many_rooms", "the server's room table is full");
      }
      LocalRoom& r = *rooms_.get(room_index);
      r.name.assign(room);
      r.global = shared_.registry.acquire(room, engine.id());
      shared_.rooms.store(shared_.registry.size(), std::memory_order_relaxed);
      room_by_name_.emplace(r.name, room_index);  // the key views the slab's stable string
      room_by_id_.emplace(r.global->id, room_index);
    }
    LocalRoom& r = *rooms_.get(room_index);
    *memberships_.get(m) = {conn, room_index, static_cast<uint32_t>(r.members.size()), head};
    r.members.push_back(m);
    engine.set_app_word(conn, m + 1);  // open: app_word succeeded above, and nothing ran since
    reply_room(engine, conn, "joined", room);
  }

  void leave(Engine& engine, ConnId conn, std::string_view room) {
    if (!check_room(engine, conn, room)) return;
    if (!admit_join_or_leave(engine, conn)) return;
    leave_unchecked(engine, conn, room);
  }

  /// After a refresh: the rooms the new token no longer allows are left (with a "left").
  void leave_rooms_not_allowed(Engine& engine, ConnId conn) {
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    std::vector<std::string> revoked;
    for (uint32_t m = head; m; m = memberships_.get(m - 1)->next) {
      const std::string& name = rooms_.get(memberships_.get(m - 1)->room)->name;
      if (!may_stay(engine, conn, name)) revoked.push_back(name);
    }
    for (const std::string& room : revoked) leave_unchecked(engine, conn, room);
  }

  void leave_unchecked(Engine& engine, ConnId conn, std::string_view room) {
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    uint32_t m = find_membership(head, room);
    if (m == kNoSlot) return error(engine, conn, "not_joined", "not a member of that room");
    std::string name(room);  // `room` may view the record freed below
    // Unlink from the connection's list, then leave the room.
    if (head == m + 1) {
      engine.set_app_word(conn, memberships_.get(m)->next);
    } else {
      uint32_t prev = head - 1;
      while (memberships_.get(prev)->next != m + 1) prev = memberships_.get(prev)->next - 1;
      memberships_.get(prev)->next = memberships_.get(m)->next;
    }
    remove_from_room(engine, m);
    reply_room(engine, conn, "left", name);
  }

  /// Takes membership `m` out of its room (swap-remove) and frees it; an emptied room goes.
  void remove_from_room(Engine& engine, uint32_t m) {
    Membership record = *memberships_.get(m);
    LocalRoom& r = *rooms_.get(record.room);
    uint32_t last = r.members.back();
    r.members[record.pos] = last;
    memberships_.get(last)->pos = record.pos;
    r.members.pop_back();
    memberships_.free(m);
    if (r.members.empty()) {
      room_by_name_.erase(r.name);
      room_by_id_.erase(r.global->id);
      shared_.registry.release(r.global, r.name, engine.id());
      shared_.rooms.store(shared_.registry.size(), std::memory_order_relaxed);
      rooms_.free(record.room);
    }
  }

  void publish(Engine& engine, ConnId conn, std::string_view room, simdjson::dom::element data) {
    if (!check_room(engine, conn, room)) return;
    if (!admit_publish(engine, conn, room, options_)) return;
    uint32_t head = 0;
    if (!engine.app_word(conn, head)) return;
    uint32_t m = find_membership(head, room);
    if (m == kNoSlot) return error(engine, conn, "not_joined", "publish to a room you have joined");
    std::string data_json = simdjson::minify(data);
    if (data_json.size() > options_.max_publish_bytes)
      return error(engine, conn, "payload_too_large", "data longer than --max-publish-bytes");
    std::string msg;
    msg.reserve(data_json.size() + room.size() + 128);
    msg.append("{\"type\":\"message\",\"room\":\"").append(room).append("\",\"from\":\"").append(id_text(engine, conn));
    msg += '"';
    append_user_field(msg, engine, conn);  // the token's subject: nobody can publish as someone else
    char tail[64];
    std::snprintf(tail, sizeof tail, ",\"ts\":%llu,\"data\":", static_cast<unsigned long long>(wall_ms()));
    msg.append(tail).append(data_json).append("}");
    SharedFrame* frame = make_text_frame(msg);
    if (!frame) return error(engine, conn, "internal", "out of memory");
    frame->set_origin_ns(engine.now_ns());
    LocalRoom& r = *rooms_.get(memberships_.get(m)->room);
    // Other reactors with members get the same frame by reference.
    uint64_t others = r.global->reactors.load(std::memory_order_acquire) & ~(uint64_t{1} << engine.id());
    for (unsigned peer = 0; others; ++peer, others >>= 1) {
      if (!(others & 1)) continue;
      frame->retain();
      engine.post(peer, frame, r.global->id);
    }
    deliver(engine, r, frame);
  }

  /// Queues `frame` (owning one reference) on every local member of `room`.
  void deliver(Engine& engine, LocalRoom& room, SharedFrame* frame) {
    // Sending can close a slow consumer, whose on_close edits the member vector: walk a copy.
    scratch_.clear();
    for (uint32_t m : room.members) scratch_.push_back(memberships_.get(m)->conn);
    if (!scratch_.empty()) frame->retain(static_cast<uint32_t>(scratch_.size()));
    engine.count_fanout(scratch_.size());
    for (ConnId conn : scratch_) engine.send(conn, frame);
    frame->release();
  }

  const ChatOptions& options_;
  ChatShared& shared_;
  Slab<LocalRoom> rooms_;
  Slab<Membership> memberships_;
  std::unordered_map<std::string_view, uint32_t> room_by_name_;
  std::unordered_map<uint32_t, uint32_t> room_by_id_;
  std::vector<ConnId> scratch_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

/// --app chat for the whole process: one room registry, the rooms gauge for /metrics.
class ChatModule final : public AppModule {
 public:
  explicit ChatModule(const ChatOptions& options) : options_(options) {}
  std::unique_ptr<App> make_app(unsigned) override { return std::make_unique<ChatApp>(options_, shared_); }
  void render_metrics(std::string& out) const override {
    char line[160];
    std::snprintf(line, sizeof line,
                  "# HELP ringws_rooms Chat rooms with at least one member.\n# TYPE ringws_rooms gauge\nringws_rooms %llu\n",
                  static_cast<unsigned long long>(shared_.rooms.load(std::memory_order_relaxed)));
    out += line;
  }

 private:
  const ChatOptions& options_;
  ChatShared shared_;
};

std::unique_ptr<AppModule> make_chat_module(const ChatOptions& options) { return std::make_unique<ChatModule>(options); }

}  // namespace ringws
