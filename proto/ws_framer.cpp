// The framer over wslay's frame layer (DESIGN.md "The framer over wslay").
//
// wslay_frame_recv pulls bytes through a recv callback into the context's 4 KiB input
// buffer and hands back payload chunks, unmasked in place. It reports a frame's header
// only with its first payload chunk (an empty one for an empty payload), and it keeps no
// state of its own between frames beyond that buffer: once every byte handed to it has
// been accounted for as header or payload and the last frame is complete, the context is
// at RECV_HEADER1 with an empty buffer and can serve any other connection.
#include <wslay/wslay.h>

#include <cassert>
#include <cstring>
#include <new>

#include "proto/close_code.h"
#include "proto/utf8.h"
#include "proto/ws_framer.h"

namespace ringws {
namespace {

constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kInvalidPayload = 1007;
constexpr uint16_t kMessageTooBig = 1009;
constexpr uint16_t kInternalError = 1011;
constexpr uint16_t kTryAgainLater = 1013;
constexpr uint16_t kNoStatus = 1005;

// Assembly buffers bigger than this are freed when their state goes back to the pool, so
// idle pooled states stay small whatever messages they once carried.
constexpr size_t kKeepAssemblyCapacity = 16 * 1024;

// What one lent ReaderState costs, for the memory gate: the object plus wslay's frame
// context, whose input buffer is 4 KiB.
constexpr size_t kStateBytes = 4096 + 256;

bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

// Bytes of a client frame header; wslay rejects non-minimal length encodings, so the
// payload length fixes it.
uint64_t client_header_size(uint64_t payload_length, bool masked) {
  const uint64_t base = payload_length < 126 ? 2 : payload_length <= 0xffff ? 4 : 10;
  return base + (masked ? 4 : 0);
}

FeedResult fail(uint16_t code) { return {FeedStatus::kFail, code}; }

}  // namespace

class ReaderState {
 public:
  static ReaderState* create() {
    auto* s = new (std::nothrow) ReaderState;
    if (!s) return nullptr;
    wslay_frame_callbacks callbacks{nullptr, &ReaderState::recv_callback, nullptr};
    if (wslay_frame_context_init(&s->ctx_, &callbacks, s) != 0) {
      delete s;
      return nullptr;
    }
    return s;
  }
  ~ReaderState() {
    if (ctx_) wslay_frame_context_free(ctx_);
  }

  /// Decodes `bytes` (see FramerPool::feed).
  FeedResult feed(std::span<const uint8_t> bytes, const FramerLimits& limits, FrameSink& sink, uint64_t conn);

  /// True when wslay holds no bytes, no frame is half-read and no message is half-built:
  /// the state carries nothing of its connection and may serve another one.
  bool idle() const { return pending_ == 0 && !in_frame_ && !in_message_; }

  /// Forgets the finished message (only when idle) and trims the assembly buffer; returns
  /// the bytes given back.
  size_t trim() {
    assembly_.clear();
    if (assembly_.capacity() <= kKeepAssemblyCapacity) return 0;
    size_t freed = assembly_.capacity();
    std::vector<uint8_t>().swap(assembly_);
    return freed;
  }
  size_t assembly_capacity() const { return assembly_.capacity(); }

 private:
  ReaderState() = default;

  static ssize_t recv_callback(uint8_t* buf, size_t len, int /*flags*/, void* user_data) {
    auto* s = static_cast<ReaderState*>(user_data);
    const size_t n = len < s->in_left_ ? len : s->in_left_;
    if (n == 0) return 0;  // wslay turns 0 into WSLAY_ERR_WANT_READ
    std::memcpy(buf, s->in_, n);
    s->in_ += n;
    s->in_left_ -= n;
    s->pending_ += n;
    return static_cast<ssize_t>(n);
  }

  FeedResult on_chunk(const wslay_frame_iocb& f, const FramerLimits& limits, FrameSink& sink);
  FeedResult on_frame_start(const wslay_frame_iocb& f, const FramerLimits& limits);
  FeedResult on_control(std::span<const uint8_t> payload, FrameSink& sink);
  FeedResult deliver_message(std::span<const uint8_t> payload, FrameSink& sink);
  /// Makes room for `need` assembled bytes, asking the gate first. False: refused.
  bool grow_assembly(size_t need, const FramerLimits& limits);

  wslay_frame_context_ptr ctx_ = nullptr;
  uint64_t conn_ = 0;  // the caller's connection, for the sink's hooks
  // The input of the current feed() call, drained by recv_callback.
  const uint8_t* in_ = nullptr;
  size_t in_left_ = 0;
  // Bytes handed to wslay and not yet returned as header or payload.
  uint64_t pending_ = 0;

  // The frame being read.
  bool in_frame_ = false;
  uint8_t frame_opcode_ = 0;
  uint64_t frame_length_ = 0;
  uint64_t frame_received_ = 0;

  // The data message being assembled (possibly over several frames).
  bool in_message_ = false;
  Opcode message_opcode_ = Opcode::kBinary;
  std::vector<uint8_t> assembly_;
  Utf8Stream utf8_;

  // A control frame whose payload arrived in more than one chunk.
  uint8_t control_len_ = 0;
  uint8_t control_[125];
};

FeedResult ReaderState::feed(std::span<const uint8_t> bytes, const FramerLimits& limits,
                             FrameSink& sink, uint64_t conn) {
  conn_ = conn;
  in_ = bytes.data();
  in_left_ = bytes.size();
  for (;;) {
    wslay_frame_iocb f{};
    const ssize_t r = wslay_frame_recv(ctx_, &f);
    if (r == WSLAY_ERR_WANT_READ) {
      // The callback hands over as much as fits, so this means the input ran out; the
      // check only guards against spinning if that ever changed.
      if (in_left_ == 0) break;
      continue;
    }
    // WSLAY_ERR_PROTO: a control frame longer than 125 bytes or fragmented, a non-minimal
    // length encoding, or a 64-bit length with the top bit set.
    if (r < 0) return fail(kProtocolError);
    const FeedResult result = on_chunk(f, limits, sink);
    if (result.status != FeedStatus::kOk) return result;
  }
  in_ = nullptr;
  return {};
}

FeedResult ReaderState::on_frame_start(const wslay_frame_iocb& f, const FramerLimits& limits) {
  const uint64_t header = client_header_size(f.payload_length, f.mask != 0);
  assert(pending_ >= header);
  pending_ -= header;
  // RFC 6455 5.1: a server must fail an unmasked client frame. No extension is ever
  // negotiated, so every RSV bit must be clear (5.2).
  if (!f.mask || f.rsv != 0) return fail(kProtocolError);
  switch (f.opcode) {
    case static_cast<uint8_t>(Opcode::kContinuation):
      if (!in_message_) return fail(kProtocolError);
      // Checked against the declared length, before a byte of it is buffered.
      if (f.payload_length > limits.max_message - assembly_.size()) return fail(kMessageTooBig);
      break;
    case static_cast<uint8_t>(Opcode::kText):
    case static_cast<uint8_t>(Opcode::kBinary):
      if (in_message_) return fail(kProtocolError);  // 5.4: fragments must not interleave
      if (f.payload_length > limits.max_message) return fail(kMessageTooBig);
      in_message_ = true;
      message_opcode_ = static_cast<Opcode>(f.opcode);
      utf8_.reset();
      assembly_.clear();
      break;
    case static_cast<uint8_t>(Opcode::kClose):
    case static_cast<uint8_t>(Opcode::kPing):
    case static_cast<uint8_t>(Opcode::kPong):
      break;  // wslay has already failed one that is fragmented or over 125 bytes
    default:
      return fail(kProtocolError);  // reserved opcodes 3-7 and 0xB-0xF
  }
  in_frame_ = true;
  frame_opcode_ = f.opcode;
  frame_length_ = f.payload_length;
  frame_received_ = 0;
  return {};
}

FeedResult ReaderState::on_chunk(const wslay_frame_iocb& f, const FramerLimits& limits,
                                 FrameSink& sink) {
  if (!in_frame_) {
    const FeedResult start = on_frame_start(f, limits);
    if (start.status != FeedStatus::kOk) return start;
  }
  const std::span<const uint8_t> chunk{f.data, f.data_length};
  assert(pending_ >= chunk.size());
  pending_ -= chunk.size();
  frame_received_ += chunk.size();
  const bool frame_done = frame_received_ == frame_length_;
  if (frame_done) in_frame_ = false;

  if (is_control(frame_opcode_)) {
    if (frame_done && chunk.size() == frame_length_) return on_control(chunk, sink);
    if (!chunk.empty()) std::memcpy(control_ + control_len_, chunk.data(), chunk.size());
    control_len_ = static_cast<uint8_t>(control_len_ + chunk.size());
    if (!frame_done) return {};
    const uint8_t len = control_len_;
    control_len_ = 0;
    return on_control({control_, len}, sink);
  }

  const bool message_done = frame_done && f.fin;
  // The common case: a whole message in one frame whose payload came in one chunk is
  // delivered straight from wslay's buffer.
  if (message_done && frame_opcode_ != 0 && chunk.size() == frame_length_) {
    if (message_opcode_ == Opcode::kText && !is_valid_utf8(chunk)) return fail(kInvalidPayload);
    return deliver_message(chunk, sink);
  }
  // Validate as the bytes arrive, so that invalid text fails on the chunk that holds it.
  if (message_opcode_ == Opcode::kText && !utf8_.feed(chunk, message_done)) {
    return fail(kInvalidPayload);
  }
  if (!chunk.empty()) {
    const size_t need = assembly_.size() + chunk.size();  // <= max_message, checked above
    if (need > assembly_.capacity() && !grow_assembly(need, limits)) return fail(kTryAgainLater);
    assembly_.insert(assembly_.end(), chunk.begin(), chunk.end());
  }
  if (!message_done) return {};
  const FeedResult result = deliver_message(assembly_, sink);
  assembly_.clear();
  return result;
}

bool ReaderState::grow_assembly(size_t need, const FramerLimits& limits) {
  // Geometric growth, capped by the limit so a message never reserves more than it may hold.
  size_t cap = assembly_.capacity() * 2;
  if (cap > limits.max_message) cap = static_cast<size_t>(limits.max_message);
  if (cap < need) cap = need;
  const size_t more = cap - assembly_.capacity();
  if (limits.gate && !limits.gate->may_lend(more)) return false;
  try {
    assembly_.reserve(cap);
  } catch (const std::bad_alloc&) {
    return false;
  }
  if (limits.gate) limits.gate->lent(static_cast<int64_t>(more));
  return true;
}

FeedResult ReaderState::deliver_message(std::span<const uint8_t> payload, FrameSink& sink) {
  in_message_ = false;
  sink.on_message(conn_, message_opcode_, payload);
  return {};
}

FeedResult ReaderState::on_control(std::span<const uint8_t> payload, FrameSink& sink) {
  switch (static_cast<Opcode>(frame_opcode_)) {
    case Opcode::kPing:
      sink.on_ping(conn_, payload);
      return {};
    case Opcode::kPong:
      sink.on_pong(conn_, payload);
      return {};
    default:
      break;
  }
  // Close (RFC 6455 5.5.1): empty, or a 2-byte code followed by a UTF-8 reason. wslay's
  // event layer accepts a 1-byte payload and rejects 1012-1014; we do neither.
  if (payload.empty()) {
    sink.on_close(conn_, kNoStatus, {});
    return {FeedStatus::kClosed, 0};
  }
  if (payload.size() == 1) return fail(kProtocolError);
  const uint16_t code = static_cast<uint16_t>((payload[0] << 8) | payload[1]);
  if (!is_valid_close_code(code)) return fail(kProtocolError);
  const auto reason = payload.subspan(2);
  if (!is_valid_utf8(reason)) return fail(kInvalidPayload);
  sink.on_close(conn_, code, {reinterpret_cast<const char*>(reason.data()), reason.size()});
  return {FeedStatus::kClosed, 0};
}

FramerPool::FramerPool(FramerLimits limits, size_t keep_free)
    : limits_(limits), keep_free_(keep_free) {}

FramerPool::~FramerPool() {
  for (ReaderState* s : free_) delete s;
  delete reserve_;
}

ReaderState* FramerPool::acquire() {
  ReaderState* s;
  if (!free_.empty()) {
    s = free_.back();
    free_.pop_back();
  } else if (reserve_) {
    s = reserve_;  // refilled by the next recycle
    reserve_ = nullptr;
  } else {
    s = ReaderState::create();
    if (!s) return nullptr;
    if (limits_.gate) limits_.gate->lent(static_cast<int64_t>(kStateBytes));
  }
  ++lent_;
  return s;
}

void FramerPool::destroy(ReaderState* s) {
  if (limits_.gate) limits_.gate->lent(-static_cast<int64_t>(kStateBytes + s->assembly_capacity()));
  delete s;
}

void FramerPool::recycle(ReaderState*& state) {
  ReaderState* s = state;
  state = nullptr;
  --lent_;
  // A state that still holds bytes or a frame in progress (after a failure, a close, or a
  // release) has a wslay context in an unknown state: free it rather than reuse it.
  if (!s->idle()) {
    destroy(s);
    return;
  }
  if (size_t freed = s->trim(); freed && limits_.gate) limits_.gate->lent(-static_cast<int64_t>(freed));
  if (!reserve_) {
    reserve_ = s;  // the reserve is refilled first: see feed()
  } else if (free_.size() < keep_free_) {
    free_.push_back(s);
  } else {
    destroy(s);
  }
}

FeedResult FramerPool::feed(ReaderState*& state, std::span<const uint8_t> bytes,
                            FrameSink& sink, uint64_t conn) {
  if (bytes.empty()) return {};
  bool for_this_call_only = false;
  if (!state) {
    // A new state is memory the gate may refuse; a pooled one is already paid for. Refused,
    // complete frames still need a state while they are decoded, so that an idle
    // connection's messages keep working: the state is lent for this call only, and the
    // connection fails (1013) only if its bytes end inside a frame.
    for_this_call_only = free_.empty() && !reserve_ && limits_.gate && !limits_.gate->may_lend(kStateBytes);
    state = acquire();
    // Out of memory: fail the connection rather than drop its bytes silently.
    if (!state) return fail(kInternalError);
  }
  const FeedResult result = state->feed(bytes, limits_, sink, conn);
  // The sink may have released the state (a connection torn down from a callback).
  if (state && for_this_call_only && result.status == FeedStatus::kOk && !state->idle()) {
    recycle(state);
    return fail(kTryAgainLater);
  }
  if (state && (result.status != FeedStatus::kOk || state->idle())) recycle(state);
  return result;
}

void FramerPool::release(ReaderState*& state) {
  if (state) recycle(state);
}

}  // namespace ringws
