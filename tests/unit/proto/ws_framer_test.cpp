#include "proto/ws_framer.h"

#include <gtest/gtest.h>

#include <cstring>

#include "proto/utf8.h"
#include "tests/unit/proto/client_frames.h"

namespace ringws::test {
namespace {

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 131 + 7);
  return b;
}

Outcome ok(std::vector<Event> events) { return {std::move(events), FeedStatus::kOk, 0, false}; }
Outcome failed(uint16_t code, std::vector<Event> events = {}) {
  return {std::move(events), FeedStatus::kFail, code, false};
}
Outcome closed(uint16_t code, std::string_view reason, std::vector<Event> before = {}) {
  before.push_back({Event::kClose, Opcode::kClose, bytes_of(reason), code});
  return {std::move(before), FeedStatus::kClosed, 0, false};
}

// Every single cut and, for short wires, every pair of cuts gives the same outcome as
// feeding the wire whole, and so does feeding it one byte at a time.
void expect_split_invariant(const Bytes& wire, const Outcome& expected, FramerLimits limits = {}) {
  ASSERT_EQ(run(wire, {}, limits), expected);
  for (size_t i = 0; i <= wire.size(); ++i) {
    ASSERT_EQ(run(wire, {i}, limits), expected) << "cut at " << i;
  }
  if (wire.size() <= 80) {
    for (size_t i = 1; i < wire.size(); ++i) {
      for (size_t j = i; j < wire.size(); ++j) {
        ASSERT_EQ(run(wire, {i, j}, limits), expected) << "cuts at " << i << ", " << j;
      }
    }
  }
  ASSERT_EQ(run_bytewise(wire, limits), expected);
}

TEST(WsFramer, DecodesEachDataAndControlOpcode) {
  expect_split_invariant(text("hello"), ok({text_message("hello")}));
  expect_split_invariant(binary({0, 1, 2, 255}), ok({message(Opcode::kBinary, {0, 1, 2, 255})}));
  expect_split_invariant(ping("are you there"),
                         ok({{Event::kPing, Opcode::kPing, bytes_of("are you there"), 0}}));
  expect_split_invariant(pong("yes"), ok({{Event::kPong, Opcode::kPong, bytes_of("yes"), 0}}));
  expect_split_invariant(close(1000, "bye"), closed(1000, "bye"));
}

TEST(WsFramer, EmptyPayloads) {
  expect_split_invariant(text(""), ok({text_message("")}));
  expect_split_invariant(binary({}), ok({message(Opcode::kBinary, {})}));
  expect_split_invariant(ping(""), ok({{Event::kPing, Opcode::kPing, {}, 0}}));
  expect_split_invariant(encode(frame(0x8, {})), closed(1005, ""));
}

TEST(WsFramer, PayloadLengthsAroundEncodingBoundaries) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{125}, size_t{126}, size_t{127}, size_t{4096},
                   size_t{65535}, size_t{65536}, size_t{100000}}) {
    SCOPED_TRACE(n);
    const Bytes payload = pattern(n);
    const Bytes wire = binary(payload);
    const Outcome expected = ok({message(Opcode::kBinary, payload)});
    EXPECT_EQ(run(wire), expected);
    // Cuts inside the header, at the header/payload edge, around wslay's 4 KiB buffer
    // and just before the end.
    for (size_t cut : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{9}, size_t{13},
                       size_t{14}, size_t{4095}, size_t{4096}, size_t{4097}, n / 2 + 3,
                       wire.size() - 1}) {
      if (cut >= wire.size()) continue;
      EXPECT_EQ(run(wire, {cut}), expected) << "cut at " << cut;
    }
    EXPECT_EQ(run_bytewise(wire), expected);
  }
}

TEST(WsFramer, SmallFramesOfEveryLengthUpTo130AtEverySplit) {
  for (size_t n = 0; n <= 130; n += 1) {
    SCOPED_TRACE(n);
    const Bytes payload = pattern(n);
    const Bytes wire = binary(payload);
    for (size_t i = 0; i <= wire.size(); ++i) {
      ASSERT_EQ(run(wire, {i}), ok({message(Opcode::kBinary, payload)})) << "cut at " << i;
    }
  }
}

TEST(WsFramer, OneMebibyteMessageAtTheDefaultLimit) {
  const Bytes payload = pattern(1u << 20);
  EXPECT_EQ(run(binary(payload)), ok({message(Opcode::kBinary, payload)}));
  EXPECT_EQ(run(binary(payload), {4000, 70000, 500000}), ok({message(Opcode::kBinary, payload)}));
}

TEST(WsFramer, MessageOverTheLimitFailsWith1009OnTheHeader) {
  Bytes payload = pattern((1u << 20) + 1);
  EXPECT_EQ(run(binary(payload)), failed(1009));
  // Only the header and one payload byte have arrived: the declared length is enough.
  const Bytes wire = binary(payload);
  EXPECT_EQ(run(Bytes(wire.begin(), wire.begin() + 15)), failed(1009));
  // A declared length of 2^62 fails without buffering anything.
  ClientFrame huge = frame(0x2, {1, 2, 3});
  huge.declared_length = uint64_t{1} << 62;
  EXPECT_EQ(run(encode(huge)), failed(1009));
  // A smaller limit applies to text too.
  EXPECT_EQ(run(text("0123456789"), {}, FramerLimits{9}), failed(1009));
  EXPECT_EQ(run(text("012345678"), {}, FramerLimits{9}), ok({text_message("012345678")}));
}

TEST(WsFramer, LimitIsCumulativeAcrossFragments) {
  const FramerLimits limits{10};
  const Bytes fits = concat({text("01234", false), cont(bytes_of("56789"))});
  EXPECT_EQ(run(fits, {}, limits), ok({text_message("0123456789")}));
  const Bytes over = concat({text("01234", false), cont(bytes_of("5678"), false), cont(bytes_of("9A"))});
  expect_split_invariant(over, failed(1009), limits);
}

TEST(WsFramer, FragmentedMessageWithInterleavedControlFrames) {
  const Bytes wire = concat({text("Hel", false), ping("p1"), cont(bytes_of("lo, "), false),
                             pong("p2"), cont(bytes_of("world")), binary({9})});
  expect_split_invariant(wire, ok({{Event::kPing, Opcode::kPing, bytes_of("p1"), 0},
                                   {Event::kPong, Opcode::kPong, bytes_of("p2"), 0},
                                   text_message("Hello, world"),
                                   message(Opcode::kBinary, {9})}));
}

TEST(WsFramer, FragmentedBinaryWithEmptyFragments) {
  const Bytes wire = concat({binary({}, false), cont({1, 2}, false), cont({}, false), cont({})});
  expect_split_invariant(wire, ok({message(Opcode::kBinary, {1, 2})}));
}

TEST(WsFramer, SeveralMessagesInOneFeedArriveInOrder) {
  const Bytes wire = concat({text("one"), binary({2}), ping("3"), text("four"), pong("5")});
  expect_split_invariant(wire, ok({text_message("one"), message(Opcode::kBinary, {2}),
                                   {Event::kPing, Opcode::kPing, bytes_of("3"), 0},
                                   text_message("four"),
                                   {Event::kPong, Opcode::kPong, bytes_of("5"), 0}}));
}

TEST(WsFramer, ManyFramesLargerThanWslaysBufferInOneFeed) {
  Bytes wire;
  std::vector<Event> expected;
  for (size_t i = 0; i < 200; ++i) {
    const Bytes payload = pattern(i * 37 % 300 + i);
    wire = concat({wire, binary(payload)});
    expected.push_back(message(Opcode::kBinary, payload));
  }
  EXPECT_EQ(run(wire), ok(expected));
  EXPECT_EQ(run(wire, {1, 4096, 4097, 9000, 20000}), ok(expected));
}

TEST(WsFramer, BytesAfterACloseFrameAreIgnored) {
  expect_split_invariant(concat({text("a"), close(1001, "going"), text("ignored")}),
                         closed(1001, "going", {text_message("a")}));
  // Even garbage that would fail the connection.
  expect_split_invariant(concat({close(1000), Bytes{0xff, 0xff, 0xff}}), closed(1000, ""));
}

TEST(WsFramer, CloseInsideAFragmentedMessage) {
  expect_split_invariant(concat({text("par", false), close(1000, "x")}), closed(1000, "x"));
}

// --- protocol errors ------------------------------------------------------------------

TEST(WsFramer, UnmaskedClientFrameIs1002) {
  ClientFrame f = frame(0x1, bytes_of("hi"));
  f.masked = false;
  expect_split_invariant(encode(f), failed(1002));
  f.payload.clear();
  expect_split_invariant(encode(f), failed(1002));
  ClientFrame p = frame(0x9, {});
  p.masked = false;
  expect_split_invariant(encode(p), failed(1002));
}

TEST(WsFramer, RsvBitsAre1002) {
  for (uint8_t rsv = 1; rsv < 8; ++rsv) {
    ClientFrame f = frame(0x1, bytes_of("hi"));
    f.rsv = rsv;
    EXPECT_EQ(run(encode(f)), failed(1002)) << int(rsv);
    ClientFrame p = frame(0x9, {});
    p.rsv = rsv;
    EXPECT_EQ(run(encode(p)), failed(1002)) << int(rsv);
  }
}

TEST(WsFramer, ReservedOpcodesAre1002) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf}) {
    EXPECT_EQ(run(encode(frame(op, bytes_of("x")))), failed(1002)) << int(op);
    EXPECT_EQ(run(encode(frame(op, {}))), failed(1002)) << int(op);
    // After a valid message, which is still delivered.
    EXPECT_EQ(run(concat({text("a"), encode(frame(op, {}))})), failed(1002, {text_message("a")}));
  }
}

TEST(WsFramer, OversizedOrFragmentedControlFramesAre1002) {
  for (uint8_t op : {0x8, 0x9, 0xa}) {
    EXPECT_EQ(run(encode(frame(op, pattern(126)))), failed(1002)) << int(op);
    Bytes p125 = op == 0x8 ? close_payload(1000, std::string(123, 'r')) : pattern(125);
    EXPECT_EQ(run(encode(frame(op, p125, false))), failed(1002)) << int(op);
  }
  // 125 bytes is the most a control frame may carry.
  const Bytes p = pattern(125);
  expect_split_invariant(encode(frame(0x9, p)), ok({{Event::kPing, Opcode::kPing, p, 0}}));
}

TEST(WsFramer, ContinuationWithoutAMessageIs1002) {
  expect_split_invariant(cont(bytes_of("x")), failed(1002));
  expect_split_invariant(concat({text("done"), cont(bytes_of("x"))}), failed(1002, {text_message("done")}));
}

TEST(WsFramer, NewDataFrameInsideAFragmentedMessageIs1002) {
  expect_split_invariant(concat({text("a", false), text("b")}), failed(1002));
  expect_split_invariant(concat({binary({1}, false), ping(""), binary({2})}),
                         failed(1002, {{Event::kPing, Opcode::kPing, {}, 0}}));
}

TEST(WsFramer, NonMinimalLengthEncodingsAre1002) {
  ClientFrame f = frame(0x2, pattern(125));
  f.encoding = LenEncoding::k16;
  expect_split_invariant(encode(f), failed(1002));
  f.encoding = LenEncoding::k64;
  EXPECT_EQ(run(encode(f)), failed(1002));
  f.payload = pattern(65535);
  EXPECT_EQ(run(encode(f)), failed(1002));
  // The minimal encodings of the same lengths are fine.
  f.encoding = LenEncoding::kMinimal;
  EXPECT_EQ(run(encode(f)), ok({message(Opcode::kBinary, f.payload)}));
}

TEST(WsFramer, SixtyFourBitLengthWithTopBitIs1002) {
  ClientFrame f = frame(0x2, {1});
  f.declared_length = (uint64_t{1} << 63) | 5;
  expect_split_invariant(encode(f), failed(1002));
}

TEST(WsFramer, InvalidUtf8TextIs1007) {
  expect_split_invariant(encode(frame(0x1, {'a', 0xc0, 0x80})), failed(1007));
  expect_split_invariant(encode(frame(0x1, {0xed, 0xa0, 0x80})), failed(1007));
  expect_split_invariant(encode(frame(0x1, {'o', 'k', 0xe2, 0x82})), failed(1007));  // truncated
  // Binary messages are not UTF-8 checked.
  EXPECT_EQ(run(binary({0xc0, 0x80})), ok({message(Opcode::kBinary, {0xc0, 0x80})}));
}

TEST(WsFramer, InvalidUtf8FailsOnTheFragmentThatHoldsIt) {
  // Only the first fragment has arrived: it already cannot be valid UTF-8.
  EXPECT_EQ(run(encode(frame(0x1, {'a', 0xf4, 0x90}, false))), failed(1007));
  EXPECT_EQ(run(encode(frame(0x1, {'a', 0xff, 'b'}, false))), failed(1007));
  // A valid but incomplete code point at the end of a fragment waits for the next one.
  EXPECT_EQ(run(encode(frame(0x1, {'a', 0xf0, 0x9f}, false))),
            (Outcome{{}, FeedStatus::kOk, 0, true}));
  // Fail fast inside one frame whose payload arrives in pieces.
  const Bytes big = encode(frame(0x1, concat({bytes_of(std::string(100, 'a')), {0xc1},
                                              bytes_of(std::string(100, 'b'))})));
  EXPECT_EQ(run(Bytes(big.begin(), big.begin() + 4 + 4 + 101)), failed(1007));
}

TEST(WsFramer, CodePointSplitAcrossFragments) {
  // U+1F600, F0 9F 98 80, split after each of its first three bytes.
  for (size_t at = 1; at < 4; ++at) {
    const Bytes cp{0xf0, 0x9f, 0x98, 0x80};
    const Bytes wire = concat({encode(frame(0x1, Bytes(cp.begin(), cp.begin() + at), false)),
                               cont(Bytes(cp.begin() + at, cp.end()))});
    expect_split_invariant(wire, ok({message(Opcode::kText, cp)}));
    Bytes bad = cp;
    bad[3] = 0x28;  // not a continuation byte
    const Bytes wire_bad = concat({encode(frame(0x1, Bytes(bad.begin(), bad.begin() + at), false)),
                                   cont(Bytes(bad.begin() + at, bad.end()))});
    expect_split_invariant(wire_bad, failed(1007));
  }
}

TEST(WsFramer, CodePointSplitAtTheEndOfTheLastFragmentIs1007) {
  expect_split_invariant(concat({encode(frame(0x1, {'a', 0xe2}, false)), cont({0x82})}), failed(1007));
}

// --- close frames ---------------------------------------------------------------------

TEST(WsFramer, CloseCodesOnTheWire) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4999}) {
    EXPECT_EQ(run(close(code, "r")), closed(code, "r")) << code;
  }
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(run(close(code)), failed(1002)) << code;
  }
}

TEST(WsFramer, OneByteClosePayloadIs1002) {
  expect_split_invariant(encode(frame(0x8, {0x03})), failed(1002));
}

TEST(WsFramer, CloseReasonMustBeUtf8) {
  Bytes payload = close_payload(1000, "ok");
  payload.push_back(0xff);
  expect_split_invariant(encode(frame(0x8, payload)), failed(1007));
}

TEST(WsFramer, CloseReasonSplitAcrossReads) {
  // wslay's event layer validates each piece of a reason on its own; we see it whole.
  expect_split_invariant(close(1000, "goodbye"), closed(1000, "goodbye"));
  expect_split_invariant(close(4001, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
                         closed(4001, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));
  const std::string longest(123, 'z');
  expect_split_invariant(close(1000, longest), closed(1000, longest));
}

// --- the pool -------------------------------------------------------------------------

class NullSink final : public FrameSink {
 public:
  void on_message(uint64_t, Opcode, std::span<const uint8_t>) override { ++count; }
  void on_ping(uint64_t, std::span<const uint8_t>) override { ++count; }
  void on_pong(uint64_t, std::span<const uint8_t>) override { ++count; }
  void on_close(uint64_t, uint16_t, std::string_view) override { ++count; }
  int count = 0;
};

TEST(FramerPool, LendsAStateOnlyWhileAFrameIsIncomplete) {
  FramerPool pool;
  NullSink sink;
  ReaderState* state = nullptr;
  const Bytes wire = concat({text("hello"), binary(pattern(5000))});
  EXPECT_EQ(pool.feed(state, wire, sink).status, FeedStatus::kOk);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(pool.pooled(), 1u);

  // Part of a header, then the rest of the frame.
  const Bytes one = text("abc");
  EXPECT_EQ(pool.feed(state, {one.data(), 1}, sink).status, FeedStatus::kOk);
  EXPECT_NE(state, nullptr);
  EXPECT_EQ(pool.lent(), 1u);
  EXPECT_EQ(pool.pooled(), 0u);  // the pooled state was reused
  EXPECT_EQ(pool.feed(state, {one.data() + 1, one.size() - 1}, sink).status, FeedStatus::kOk);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(sink.count, 3);

  // A complete frame followed by part of the next one keeps the state lent.
  const Bytes two = concat({text("x"), text("yz")});
  EXPECT_EQ(pool.feed(state, {two.data(), two.size() - 1}, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 1u);
  EXPECT_EQ(sink.count, 4);
  EXPECT_EQ(pool.feed(state, {two.data() + two.size() - 1, 1}, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(sink.count, 5);
}

TEST(FramerPool, FragmentedMessageKeepsTheStateUntilItsLastFrame) {
  FramerPool pool;
  NullSink sink;
  ReaderState* state = nullptr;
  const Bytes first = text("a", false);
  EXPECT_EQ(pool.feed(state, first, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 1u);
  const Bytes last = cont(bytes_of("b"));
  EXPECT_EQ(pool.feed(state, last, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(sink.count, 1);
}

TEST(FramerPool, ReleaseGivesBackAPartialFrame) {
  FramerPool pool;
  NullSink sink;
  ReaderState* state = nullptr;
  const Bytes wire = binary(pattern(300));
  EXPECT_EQ(pool.feed(state, {wire.data(), 100}, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 1u);
  pool.release(state);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(pool.lent(), 0u);
  pool.release(state);  // releasing nothing is harmless
  EXPECT_EQ(pool.lent(), 0u);
  // The pool still serves fresh connections correctly.
  EXPECT_EQ(pool.feed(state, text("fresh"), sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(sink.count, 1);
}

TEST(FramerPool, CloseAndFailureReturnTheState) {
  FramerPool pool;
  NullSink sink;
  ReaderState* state = nullptr;
  const Bytes closing = concat({text("a", false), close(1000), text("junk")});
  EXPECT_EQ(pool.feed(state, closing, sink).status, FeedStatus::kClosed);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(pool.lent(), 0u);
  const Bytes bad = concat({binary(pattern(10)), Bytes{0x83, 0x80, 0, 0, 0, 0}});
  FeedResult r = pool.feed(state, bad, sink);
  EXPECT_EQ(r.status, FeedStatus::kFail);
  EXPECT_EQ(r.close_code, 1002);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(pool.lent(), 0u);
}

TEST(FramerPool, KeepsAtMostKeepFreeIdleStates) {
  FramerPool pool({}, 2);
  NullSink sink;
  ReaderState* states[4] = {};
  const Bytes partial = text("partial", false);
  for (auto& s : states) EXPECT_EQ(pool.feed(s, partial, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 4u);
  const Bytes last = cont(bytes_of("!"));
  for (auto& s : states) EXPECT_EQ(pool.feed(s, last, sink).status, FeedStatus::kOk);
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(pool.pooled(), 3u);  // keep_free, plus the one reserve (see MemoryGate below)
  EXPECT_EQ(sink.count, 4);
}

/// A gate that refuses everything while `refuse` is set, and keeps the balance of what was lent.
class TestGate final : public MemoryGate {
 public:
  bool may_lend(size_t) override { return !refuse; }
  void lent(int64_t bytes) override { balance += bytes; }
  bool refuse = false;
  int64_t balance = 0;
};

TEST(FramerPool, ARefusingGateFailsOnlyMessagesThatNeedMemory) {
  TestGate gate;
  FramerLimits limits;
  limits.gate = &gate;
  {
    FramerPool pool(limits, 0);  // keeps no idle state: every state is new memory
    NullSink sink;
    gate.refuse = true;
    // Whole frames are still decoded: the state is lent for the call only.
    ReaderState* idle = nullptr;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(pool.feed(idle, concat({text("a"), ping("p")}), sink).status, FeedStatus::kOk);
      EXPECT_EQ(idle, nullptr);
    }
    EXPECT_EQ(sink.count, 6);
    // A frame that ends beyond these bytes would keep a state: 1013.
    const Bytes whole = text(std::string(300, 'x'));
    ReaderState* split = nullptr;
    FeedResult r = pool.feed(split, {whole.data(), 100}, sink);
    EXPECT_EQ(r.status, FeedStatus::kFail);
    EXPECT_EQ(r.close_code, 1013);
    EXPECT_EQ(split, nullptr);
    // So does a fragmented message, whose assembly buffer must grow.
    gate.refuse = false;
    ReaderState* fragmented = nullptr;
    EXPECT_EQ(pool.feed(fragmented, text("first", false), sink).status, FeedStatus::kOk);
    gate.refuse = true;
    r = pool.feed(fragmented, cont(bytes_of(std::string(20000, 'y')), false), sink);
    EXPECT_EQ(r.status, FeedStatus::kFail);
    EXPECT_EQ(r.close_code, 1013);
  }
  EXPECT_EQ(gate.balance, 0);  // everything lent was given back
}

TEST(FramerPool, InterleavedConnectionsKeepTheirOwnState) {
  FramerPool pool;
  RecordingSink sink;
  ReaderState* a = nullptr;
  ReaderState* b = nullptr;
  const Bytes wa = concat({text("alpha ", false), cont(bytes_of("one"))});
  const Bytes wb = binary(pattern(6000));
  for (size_t i = 0; i < wb.size(); i += 7) {
    if (i < wa.size()) {
      ASSERT_EQ(pool.feed(a, {wa.data() + i, std::min<size_t>(7, wa.size() - i)}, sink).status,
                FeedStatus::kOk);
    }
    ASSERT_EQ(pool.feed(b, {wb.data() + i, std::min<size_t>(7, wb.size() - i)}, sink).status,
              FeedStatus::kOk);
  }
  EXPECT_EQ(pool.lent(), 0u);
  EXPECT_EQ(sink.events, (std::vector<Event>{text_message("alpha one"),
                                             message(Opcode::kBinary, pattern(6000))}));
}

// --- frame writer ---------------------------------------------------------------------

struct ServerFrame {
  bool fin;
  uint8_t rsv;
  uint8_t opcode;
  bool masked;
  uint64_t length;
  size_t header;
};

// Decodes a server frame header independently of the writer.
ServerFrame decode_server_header(const uint8_t* p) {
  ServerFrame f{};
  f.fin = p[0] & 0x80;
  f.rsv = (p[0] >> 4) & 7;
  f.opcode = p[0] & 0xf;
  f.masked = p[1] & 0x80;
  const uint8_t len7 = p[1] & 0x7f;
  if (len7 < 126) {
    f.length = len7;
    f.header = 2;
  } else if (len7 == 126) {
    f.length = (uint64_t{p[2]} << 8) | p[3];
    f.header = 4;
  } else {
    for (int i = 0; i < 8; ++i) f.length = (f.length << 8) | p[2 + i];
    f.header = 10;
  }
  return f;
}

TEST(FrameWriter, HeaderSizeAndMinimalLengthEncoding) {
  struct Case {
    uint64_t length;
    size_t header;
  };
  for (Case c : {Case{0, 2}, Case{125, 2}, Case{126, 4}, Case{65535, 4}, Case{65536, 10},
                 Case{uint64_t{1} << 40, 10}}) {
    EXPECT_EQ(frame_header_size(c.length), c.header) << c.length;
    uint8_t buf[10];
    std::memset(buf, 0xaa, sizeof buf);
    EXPECT_EQ(write_frame_header(buf, Opcode::kBinary, c.length), c.header);
    const ServerFrame f = decode_server_header(buf);
    EXPECT_TRUE(f.fin);
    EXPECT_EQ(f.rsv, 0);
    EXPECT_FALSE(f.masked);
    EXPECT_EQ(f.opcode, 0x2);
    EXPECT_EQ(f.length, c.length);
    EXPECT_EQ(f.header, c.header);
  }
  uint8_t buf[10];
  write_frame_header(buf, Opcode::kText, 3, false);
  EXPECT_FALSE(decode_server_header(buf).fin);
  EXPECT_EQ(decode_server_header(buf).opcode, 0x1);
}

TEST(FrameWriter, MakeFrameRoundTripsThroughTheFramer) {
  for (size_t n : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536}}) {
    SCOPED_TRACE(n);
    const Bytes payload = pattern(n);
    SharedFrame* sf = make_frame(Opcode::kBinary, payload);
    ASSERT_NE(sf, nullptr);
    EXPECT_EQ(sf->ref_count(), 1u);
    const ServerFrame f = decode_server_header(sf->data());
    EXPECT_EQ(f.opcode, 0x2);
    EXPECT_TRUE(f.fin);
    EXPECT_FALSE(f.masked);
    EXPECT_EQ(f.length, n);
    ASSERT_EQ(sf->size(), f.header + n);
    const Bytes got(sf->data() + f.header, sf->data() + sf->size());
    EXPECT_EQ(got, payload);
    // As a client would send it: the same header bits, masked.
    ClientFrame c = frame(f.opcode, got, f.fin);
    c.key = {1, 2, 3, 4};
    EXPECT_EQ(run(encode(c)), ok({message(Opcode::kBinary, payload)}));
    sf->release();
  }
}

TEST(FrameWriter, ControlFramesOver125BytesAreRefused) {
  EXPECT_EQ(make_frame(Opcode::kPing, pattern(126)), nullptr);
  SharedFrame* sf = make_frame(Opcode::kPing, pattern(125));
  ASSERT_NE(sf, nullptr);
  EXPECT_EQ(sf->size(), 127u);
  sf->release();
}

Outcome close_round_trip(SharedFrame* sf) {
  const ServerFrame f = decode_server_header(sf->data());
  EXPECT_EQ(f.opcode, 0x8);
  EXPECT_LE(f.length, 125u);
  return run(encode(frame(0x8, Bytes(sf->data() + f.header, sf->data() + sf->size()))));
}

TEST(FrameWriter, CloseFrames) {
  SharedFrame* sf = make_close_frame(1001, "restarting");
  ASSERT_NE(sf, nullptr);
  EXPECT_EQ(sf->size(), 2u + 2 + 10);
  EXPECT_EQ(sf->data()[2], 0x03);  // 1001 in network order
  EXPECT_EQ(sf->data()[3], 0xe9);
  EXPECT_EQ(close_round_trip(sf), closed(1001, "restarting"));
  sf->release();

  sf = make_close_frame(1005, "ignored");
  ASSERT_NE(sf, nullptr);
  EXPECT_EQ(sf->size(), 2u);
  EXPECT_EQ(close_round_trip(sf), closed(1005, ""));
  sf->release();
}

TEST(FrameWriter, CloseReasonIsTruncatedOnACodePointBoundary) {
  const std::string ascii(200, 'a');
  SharedFrame* sf = make_close_frame(1000, ascii);
  ASSERT_NE(sf, nullptr);
  EXPECT_EQ(sf->size(), 2u + 125);
  EXPECT_EQ(close_round_trip(sf), closed(1000, ascii.substr(0, 123)));
  sf->release();

  // Two-, three- and four-byte code points straddling byte 123 of the reason.
  for (const std::string cp : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    for (size_t prefix = 118; prefix <= 123; ++prefix) {
      std::string reason(prefix, 'r');
      for (int i = 0; i < 10; ++i) reason += cp;
      sf = make_close_frame(1000, reason);
      ASSERT_NE(sf, nullptr);
      const ServerFrame f = decode_server_header(sf->data());
      const size_t reason_len = f.length - 2;
      EXPECT_LE(reason_len, 123u);
      EXPECT_GT(reason_len, 123u - cp.size());  // cut no more than it must
      EXPECT_EQ(close_round_trip(sf), closed(1000, reason.substr(0, reason_len)));
      sf->release();
    }
  }
}

}  // namespace
}  // namespace ringws::test
