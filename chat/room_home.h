// The home of a room: the one reactor of the process (a hash of the room's name) that numbers
// its messages, keeps its history, answers its joins and, with --redis, subscribes its
// channel. Publishes and joins go there (a post when the member is on another reactor);
// the home sends each message to the reactors with members, in offset order, and a join's
// answer after every message the joiner must not see, so that
//   - every member gets every message once, in the room's offset order: the home is the
//     only sender of a room's messages to a reactor, and posts from one reactor to another
//     keep their order;
//   - a join's "joined" names the offset its member's stream starts after, and a replay
//     (recovery) is followed by live messages with no gap and no duplicate: the member is
//     pending, and skipped by deliveries, until its answer arrives.
//
// Without --redis the home is the sequencer: offset = previous + 1, the epoch is drawn when
// the home first holds the room (its history is gone when the room is).
//
// With --redis, Redis is the sequencer (chat/redis_scripts.h: one script numbers, stores
// and PUBLISHes each message), and the home of each instance delivers what arrives on the
// channel. The publisher's own instance delivers its message only when it comes back from
// the channel, like everyone else's: that is how it never delivers it twice and keeps
// offset order. A subscription is synced with a marker: once SUBSCRIBE is confirmed, a
// script PUBLISHes "S<token> <offset> <epoch>" on the channel; messages before it are
// older than the room's join point here, messages after it are delivered. A message whose
// offset is not the last + 1 is counted as a gap (ringws_backplane_gaps_total) and
// delivered; one at or below the last is a duplicate and dropped.
//
// While the backplane is down the room is local: publishes reach this instance's members
// only, numbered on from the last offset under a local epoch (an epoch no other instance
// knows), so recovery against it says recovered:false. Once the backplane is back each
// room resubscribes and syncs; its epoch is Redis's again.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chat/backplane.h"
#include "chat/chat_options.h"
#include "chat/chat_shared.h"
#include "chat/history.h"
#include "chat/posts.h"

namespace ringws {

class Engine;
class Rooms;

/// The home reactor of `room` among `reactors`.
unsigned home_of(std::string_view room, unsigned reactors);

class RoomHome final : public BackplaneListener {
 public:
  RoomHome(const ChatOptions& options, ChatShared& shared, Rooms& local, Backplane* backplane);
  ~RoomHome();

  void join(Engine& engine, JoinPost&& post);
  void publish(Engine& engine, PublishPost&& post);
  /// A reactor's last member of `room` left: forget the room when no member is left.
  void released(Engine& engine, std::string_view room);
  /// Once a second: expires history and rooms kept only for it, times out waiting joins.
  void tick(Engine& engine);
  void exit(Engine& engine);

  // BackplaneListener
  void on_backplane_up(Engine& engine) override;
  void on_backplane_down(Engine& engine) override;
  void on_subscribed(Engine& engine, std::string_view room) override;
  void on_channel_message(Engine& engine, std::string_view room, std::string_view payload) override;

 private:
  enum class Sync : uint8_t {
    kLocal,        ///< no backplane, or it is down: this home numbers the messages
    kSubscribing,  ///< SUBSCRIBE sent (or the backplane is connecting: sent once it is up)
    kSyncing,      ///< subscribed; the sync marker is on its way
    kLive,         ///< delivering what the channel carries
  };
  struct Ahead {  ///< a recovery from an offset this instance has not delivered yet
    JoinPost post;
    uint32_t deadline;
  };
  struct Room {
    std::string name;
    RoomRegistry::Room* global = nullptr;
    std::string epoch;
    uint64_t offset = 0;  ///< the last message delivered
    Sync sync = Sync::kLocal;
    bool local_epoch = false;  ///< numbered here while the backplane was down
    std::string token;         ///< the sync marker this home waits for
    std::unique_ptr<History> history;
    std::vector<JoinPost> waiting_joins;        ///< until the room is live
    std::vector<PublishPost> waiting_publishes;  ///< until the room is live
    std::vector<Ahead> ahead;
  };

  Room& room_for(Engine& engine, std::string_view name);
  void forget(Engine& engine, Room& room);
  bool has_members(const Room& room) const;
  std::string new_epoch(Engine& engine);
  void subscribe(Engine& engine, Room& room);
  void answer(Engine& engine, Room& room, const JoinPost& post);
  void ack(Engine& engine, Room& room, const JoinPost& post, int recovered, std::vector<SharedFrame*> replay,
           uint64_t offset);
  void number_locally(Engine& engine, Room& room, const std::string& body, uint64_t origin_ns);
  void send_to_publisher_locally(Engine& engine, PublishPost&& post);
  /// Sends `frame` (one reference) to every reactor with members; `events`: only to those
  /// that asked for events.
  void send_to_members(Engine& engine, Room& room, SharedFrame* frame, bool events);
  void went_live(Engine& engine, Room& room);
  void release_ahead(Engine& engine, Room& room);
  void fetch(Engine& engine, Room& room, const JoinPost& post, uint64_t after, std::vector<SharedFrame*> replay,
             int rounds);

  friend struct FetchReply;
  friend struct PublishReply;

  const ChatOptions& options_;
  ChatShared& shared_;
  Rooms& local_;
  Backplane* backplane_;
  std::unordered_map<std::string, std::unique_ptr<Room>> rooms_;
  uint64_t epochs_ = 0;         ///< epochs drawn here
  uint64_t tokens_ = 0;         ///< sync markers sent
  uint64_t publish_seq_ = 0;    ///< publishes sent to Redis from this reactor
  uint64_t own_seen_ = 0;       ///< the last of them seen back on a channel
  uint32_t now_ = 0;            ///< ticks
};

}  // namespace ringws
