// --app chat: rooms across every reactor, the protocol in docs/protocol.md.
//
// Memory: a membership is a 16-byte slab record linked from the connection's app_word
// plus 4 bytes in its room's member vector; a room is one record per reactor that has
// members, plus one registry entry per process. A publish is serialized once; other
// reactors get the same frame by reference, and only those with members in the room.
#include <simdjson.h>

#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "alloc/slab.h"
#include "chat/room_registry.h"
#include "core/clock.h"
#include "core/app.h"
#include "core/reactor.h"
#include "core/server_state.h"

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

struct ChatShared {
  explicit ChatShared(std::atomic<uint64_t>& gauge) : rooms_gauge(gauge) {}
  RoomRegistry registry;
  std::atomic<uint64_t>& rooms_gauge;
};

}  // namespace

class ChatApp final : public App {
 public:
  ChatApp(ServerState& state, std::shared_ptr<ChatShared> shared)
      : config_(state.config), shared_(std::move(shared)), rooms_(kMaxRoomsPerReactor), memberships_(kMaxMemberships) {}

  void on_open(Reactor& reactor, ConnId conn, std::string_view target) override {
    char hello[64];
    int n = std::snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"id\":\"%s\"}", id_text(reactor, conn).c_str());
    send_text(reactor, conn, {hello, static_cast<size_t>(n)});
    // Rooms named in the query join as if the client had sent join.
    size_t q = target.find('?');
    std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      if (pair.substr(0, 5) == "room=") join(reactor, conn, percent_decode(pair.substr(5)));
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    }
  }

  void on_message(Reactor& reactor, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (opcode != Opcode::kText) return error(reactor, conn, "binary_not_supported", "messages are JSON text");
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    // simdjson reads past the end: parse from a padded buffer this reactor reuses.
    padded_.assign(text);
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::dom::element root;
    if (parser_.parse(padded_.data(), text.size(), false).get(root) != simdjson::SUCCESS || !root.is_object())
      return error(reactor, conn, "bad_json", "expected a JSON object");
    std::string_view type;
    if (root["type"].get_string().get(type) != simdjson::SUCCESS)
      return error(reactor, conn, "unknown_type", "type must be join, leave or publish");
    if (type != "join" && type != "leave" && type != "publish")
      return error(reactor, conn, "unknown_type", "type must be join, leave or publish");
    std::string_view room;
    if (root["room"].get_string().get(room) != simdjson::SUCCESS)
      return error(reactor, conn, "bad_room", "room must be a string");
    if (type == "join") return join(reactor, conn, room);
    if (type == "leave") return leave(reactor, conn, room);
    simdjson::dom::element data;
    if (root["data"].get(data) != simdjson::SUCCESS) return error(reactor, conn, "missing_data", "publish needs data");
    publish(reactor, conn, room, data);
  }

  void on_close(Reactor& reactor, ConnId conn) override {
    uint32_t* head = reactor.app_word(conn.index);
    while (head && *head) leave_membership(reactor, conn.index, *head - 1);
  }

  void on_posted(Reactor& reactor, SharedFrame* frame, uint32_t room_id) override {
    auto it = room_by_id_.find(room_id);
    if (it == room_by_id_.end()) {
      frame->release();  // the last local member left after the publisher looked
      return;
    }
    deliver(reactor, *rooms_.get(it->second), frame);
  }

 private:
  struct LocalRoom {
    std::string name;
    RoomRegistry::Room* global = nullptr;
    std::vector<uint32_t> members;  ///< membership indices
  };
  struct Membership {
    uint32_t conn;  ///< connection slot index
    uint32_t room;  ///< LocalRoom index
    uint32_t pos;   ///< position in the room's member vector
    uint32_t next;  ///< the connection's next membership + 1; 0 ends the list
  };

  static std::string id_text(Reactor& reactor, ConnId conn) {
    char id[32];
    std::snprintf(id, sizeof id, "%x.%x.%x", reactor.id(), conn.index, conn.generation);
    return id;
  }

  void send_text(Reactor& reactor, ConnId conn, std::string_view text) {
    if (SharedFrame* f = make_text_frame(text)) reactor.send(conn, f);
  }

  /// `code` and `reason` are fixed ASCII texts: no JSON escaping needed.
  void error(Reactor& reactor, ConnId conn, const char* code, const char* reason) {
    char msg[256];
    int n = std::snprintf(msg, sizeof msg, "{\"type\":\"error\",\"code\":\"%s\",\"reason\":\"%s\"}", code, reason);
    send_text(reactor, conn, {msg, static_cast<size_t>(n)});
  }

  /// Checks a room name; sends the error and returns false when it is not acceptable.
  bool check_room(Reactor& reactor, ConnId conn, std::string_view room) {
    if (room.size() > config_.max_room_name) {
      error(reactor, conn, "room_name_too_long", "room name longer than --max-room-name");
      return false;
    }
    bool ok = !room.empty();
    for (char ch : room) ok = ok && valid_room_char(ch);
    if (!ok) error(reactor, conn, "bad_room", "room names are 1 or more of A-Z a-z 0-9 . _ - :");
    return ok;
  }

  /// The membership of `conn` in `room`, or kNoSlot; counts its memberships into `count`.
  uint32_t find_membership(Reactor& reactor, uint32_t conn, std::string_view room, uint32_t* count = nullptr) {
    uint32_t n = 0, found = kNoSlot;
    for (uint32_t m = *reactor.app_word(conn); m; m = memberships_.get(m - 1)->next, ++n)
      if (found == kNoSlot && rooms_.get(memberships_.get(m - 1)->room)->name == room) found = m - 1;
    if (count) *count = n;
    return found;
  }

  void reply_room(Reactor& reactor, ConnId conn, const char* type, std::string_view room) {
    std::string msg = "{\"type\":\"";
    msg.append(type).append("\",\"room\":\"").append(room).append("\"}");
    send_text(reactor, conn, msg);
  }

  void join(Reactor& reactor, ConnId conn, std::string_view room) {
    if (!check_room(reactor, conn, room)) return;
    uint32_t count = 0;
    if (find_membership(reactor, conn.index, room, &count) != kNoSlot) return reply_room(reactor, conn, "joined", room);
    if (count >= config_.max_rooms_per_connection)
      return error(reactor, conn, "too_many_rooms", "already in --max-rooms-per-connection rooms");
    // The membership first: a room must never exist without a member.
    uint32_t m = memberships_.allocate();
    if (m == kNoSlot) return error(reactor, conn, "too_many_rooms", "the server's membership table is full");
    uint32_t room_index;
    if (auto it = room_by_name_.find(room); it != room_by_name_.end()) {
      room_index = it->second;
    } else {
      room_index = rooms_.allocate();
      if (room_index == kNoSlot) {
        memberships_.free(m);
        return error(reactor, conn, "too_many_rooms", "the server's room table is full");
      }
      LocalRoom& r = *rooms_.get(room_index);
      r.name.assign(room);
      r.global = shared_->registry.acquire(room, reactor.id());
      shared_->rooms_gauge.store(shared_->registry.size(), std::memory_order_relaxed);
      room_by_name_.emplace(r.name, room_index);  // the key views the slab's stable string
      room_by_id_.emplace(r.global->id, room_index);
    }
    LocalRoom& r = *rooms_.get(room_index);
    uint32_t* head = reactor.app_word(conn.index);
    *memberships_.get(m) = {conn.index, room_index, static_cast<uint32_t>(r.members.size()), *head};
    r.members.push_back(m);
    *head = m + 1;
    reply_room(reactor, conn, "joined", room);
  }

  void leave(Reactor& reactor, ConnId conn, std::string_view room) {
    if (!check_room(reactor, conn, room)) return;
    uint32_t m = find_membership(reactor, conn.index, room);
    if (m == kNoSlot) return error(reactor, conn, "not_joined", "not a member of that room");
    std::string name(room);  // `room` may view the record freed below
    leave_membership(reactor, conn.index, m);
    reply_room(reactor, conn, "left", name);
  }

  void leave_membership(Reactor& reactor, uint32_t conn, uint32_t m) {
    Membership record = *memberships_.get(m);
    // Unlink from the connection's list.
    uint32_t* link = reactor.app_word(conn);
    while (*link != m + 1) link = &memberships_.get(*link - 1)->next;
    *link = record.next;
    // Swap-remove from the room's vector.
    LocalRoom& r = *rooms_.get(record.room);
    uint32_t last = r.members.back();
    r.members[record.pos] = last;
    memberships_.get(last)->pos = record.pos;
    r.members.pop_back();
    memberships_.free(m);
    if (r.members.empty()) {
      room_by_name_.erase(r.name);
      room_by_id_.erase(r.global->id);
      shared_->registry.release(r.global, r.name, reactor.id());
      shared_->rooms_gauge.store(shared_->registry.size(), std::memory_order_relaxed);
      rooms_.free(record.room);
    }
  }

  void publish(Reactor& reactor, ConnId conn, std::string_view room, simdjson::dom::element data) {
    if (!check_room(reactor, conn, room)) return;
    uint32_t m = find_membership(reactor, conn.index, room);
    if (m == kNoSlot) return error(reactor, conn, "not_joined", "publish to a room you have joined");
    std::string data_json = simdjson::minify(data);
    if (data_json.size() > config_.max_publish_bytes)
      return error(reactor, conn, "payload_too_large", "data longer than --max-publish-bytes");
    std::string msg;
    msg.reserve(data_json.size() + room.size() + 96);
    char head[96];
    std::snprintf(head, sizeof head, "\",\"from\":\"%s\",\"ts\":%llu,\"data\":", id_text(reactor, conn).c_str(),
                  static_cast<unsigned long long>(wall_ms()));
    msg.append("{\"type\":\"message\",\"room\":\"").append(room).append(head).append(data_json).append("}");
    SharedFrame* frame = make_text_frame(msg);
    if (!frame) return error(reactor, conn, "internal", "out of memory");
    frame->set_origin_ns(reactor.now_ns());
    LocalRoom& r = *rooms_.get(memberships_.get(m)->room);
    // Other reactors with members get the same frame by reference.
    uint64_t others = r.global->reactors.load(std::memory_order_acquire) & ~(uint64_t{1} << reactor.id());
    for (unsigned peer = 0; others; ++peer, others >>= 1) {
      if (!(others & 1)) continue;
      frame->retain();
      reactor.post(peer, frame, r.global->id);
    }
    deliver(reactor, r, frame);
  }

  /// Queues `frame` (owning one reference) on every local member of `room`.
  void deliver(Reactor& reactor, LocalRoom& room, SharedFrame* frame) {
    // Sending can close a slow consumer, whose on_close edits the member vector: walk a copy.
    scratch_.clear();
    for (uint32_t m : room.members) scratch_.push_back(memberships_.get(m)->conn);
    if (!scratch_.empty()) frame->retain(static_cast<uint32_t>(scratch_.size()));
    reactor.count_fanout(scratch_.size());
    for (uint32_t conn : scratch_) reactor.send_local(conn, frame);
    frame->release();
  }

  const Config& config_;
  std::shared_ptr<ChatShared> shared_;
  Slab<LocalRoom> rooms_;
  Slab<Membership> memberships_;
  std::unordered_map<std::string_view, uint32_t> room_by_name_;
  std::unordered_map<uint32_t, uint32_t> room_by_id_;
  std::vector<uint32_t> scratch_;
  simdjson::dom::parser parser_;
  std::string padded_;
};

std::unique_ptr<App> make_chat_app(ServerState& state) {
  // One registry for all reactors; make_app runs on the main thread, one reactor at a time.
  if (!state.app_shared) state.app_shared = std::make_shared<ChatShared>(state.rooms);
  return std::make_unique<ChatApp>(state, std::static_pointer_cast<ChatShared>(state.app_shared));
}

}  // namespace ringws
