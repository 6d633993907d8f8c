// What the chat app's reactors say to each other through Engine::post: requests to a room's
// home reactor (join, publish, a room left) and its answers (a join's acknowledgement with
// the messages to replay). Each is a few fields written into a SharedFrame's bytes, which is
// only a refcounted buffer here; posts from one reactor to another keep their order.
//
// Tags: a registry room id (< 2^29) posts a message frame for that room's members; with
// kEventsBit, an event frame for the members that asked for events; kControlBit marks the
// kinds below.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/shared_frame.h"
#include "core/engine/connection.h"

namespace ringws {

constexpr uint32_t kEventsBit = 1u << 29;
constexpr uint32_t kControlBit = 1u << 30;

enum class PostKind : uint32_t {
  kJoin = kControlBit | 1,      ///< member reactor -> home: a join (with since)
  kPublish = kControlBit | 2,   ///< member reactor -> home: a publish to number and send
  kReleased = kControlBit | 3,  ///< member reactor -> home: its last member of a room left
  kJoinAck = kControlBit | 4,   ///< home -> member reactor: joined, and what to replay
};

struct JoinPost {
  uint32_t reactor = 0;  ///< the member's reactor, where the answer goes
  ConnId conn;
  bool has_since = false;
  uint64_t since_offset = 0;
  std::string since_epoch;
  std::string room;
};

struct PublishPost {
  uint64_t origin_ns = 0;  ///< when the publish arrived (monotonic), for the latency histogram
  std::string room;
  std::string body;  ///< message_body(): from, ts, data
};

struct JoinAckPost {
  ConnId conn;
  int8_t recovered = -1;  ///< -1: no since was given; 0 false; 1 true
  uint64_t offset = 0;
  std::string epoch;
  std::string room;
  std::vector<SharedFrame*> replay;  ///< one reference each, in offset order
};

/// Encodes into a new frame (one reference); null when out of memory. An ack's replay
/// references move into the frame (or are released when it cannot be made).
SharedFrame* encode(const JoinPost& p);
SharedFrame* encode(const PublishPost& p);
SharedFrame* encode_released(std::string_view room);
SharedFrame* encode(JoinAckPost& p);
/// Decoders: false for a malformed frame (a bug).
bool decode(const SharedFrame& f, JoinPost& p);
bool decode(const SharedFrame& f, PublishPost& p);
bool decode_released(const SharedFrame& f, std::string& room);
/// Takes over the replay references the frame holds.
bool decode(const SharedFrame& f, JoinAckPost& p);

}  // namespace ringws
