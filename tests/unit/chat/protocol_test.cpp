#include "chat/protocol.h"

#include <gtest/gtest.h>

namespace ringws {
namespace {

const ChatError* parse(const std::string& text, ChatRequest& out, simdjson::dom::parser& parser) {
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS);
  return parse_request(root, out);
}

TEST(ChatProtocol, JoinWithSinceAndEvents) {
  simdjson::dom::parser p;
  ChatRequest r;
  ASSERT_EQ(parse(R"({"type":"join","room":"lobby","since":{"offset":41,"epoch":"E1"},"events":true})", r, p), nullptr);
  EXPECT_EQ(r.type, ChatRequest::Type::kJoin);
  EXPECT_EQ(r.room, "lobby");
  EXPECT_TRUE(r.has_since);
  EXPECT_EQ(r.since_offset, 41u);
  EXPECT_EQ(r.since_epoch, "E1");
  EXPECT_TRUE(r.events);
}

TEST(ChatProtocol, BadSinceAndEventsAreRefused) {
  simdjson::dom::parser p;
  for (const char* text : {R"({"type":"join","room":"r","since":5})", R"({"type":"join","room":"r","since":{"offset":-1,"epoch":"e"}})",
                           R"({"type":"join","room":"r","since":{"offset":1}})"}) {
    ChatRequest r;
    const ChatError* e = parse(text, r, p);
    ASSERT_NE(e, nullptr) << text;
    EXPECT_STREQ(e->code, "bad_since") << text;
  }
  ChatRequest r;
  const ChatError* e = parse(R"({"type":"join","room":"r","events":"yes"})", r, p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->code, "bad_events");
}

TEST(ChatProtocol, PresenceAndUnknownTypes) {
  simdjson::dom::parser p;
  ChatRequest r;
  ASSERT_EQ(parse(R"({"type":"presence","room":"x"})", r, p), nullptr);
  EXPECT_EQ(r.type, ChatRequest::Type::kPresence);
  const ChatError* e = parse(R"({"type":"dance","room":"x"})", r, p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->code, "unknown_type");
  // refresh names no room; its token must be a string.
  ASSERT_EQ(parse(R"({"type":"refresh","token":"a.b.c"})", r, p), nullptr);
  EXPECT_EQ(r.type, ChatRequest::Type::kRefresh);
  EXPECT_EQ(r.token, "a.b.c");
  e = parse(R"({"type":"refresh","token":5})", r, p);
  ASSERT_NE(e, nullptr);
  EXPECT_STREQ(e->code, "bad_token");
}

TEST(ChatProtocol, ServerMessages) {
  EXPECT_EQ(joined_text("lobby", 7, "E", -1), R"({"type":"joined","room":"lobby","offset":7,"epoch":"E"})");
  EXPECT_EQ(joined_text("lobby", 7, "E", 1), R"({"type":"joined","room":"lobby","offset":7,"epoch":"E","recovered":true})");
  EXPECT_EQ(joined_text("lobby", 7, "E", 0), R"({"type":"joined","room":"lobby","offset":7,"epoch":"E","recovered":false})");
  std::string body = message_body("abc.0.1.0", std::nullopt, 1234, R"({"t":1})");
  EXPECT_EQ(message_text("lobby", 8, "E", body),
            R"({"type":"message","room":"lobby","offset":8,"epoch":"E","from":"abc.0.1.0","ts":1234,"data":{"t":1}})");
  // --auth jwt: the token's subject beside from, escaped as any JSON string.
  EXPECT_EQ(message_body("abc.0.1.0", "al\"ice", 1, "2"), R"("from":"abc.0.1.0","user":"al\"ice","ts":1,"data":2)");
  EXPECT_EQ(rate_limited_text("too fast", 250),
            R"({"type":"error","code":"rate_limited","reason":"too fast","retry_after_ms":250})");
  EXPECT_EQ(hello_text("abc.0.1.0"), R"({"type":"hello","id":"abc.0.1.0"})");
  EXPECT_EQ(hello_text("abc.0.1.0", "bob"), R"({"type":"hello","id":"abc.0.1.0","user":"bob"})");
  std::vector<std::string> ids{"a", "b"};
  EXPECT_EQ(presence_text("r", 2, &ids), R"({"type":"presence","room":"r","count":2,"members":["a","b"]})");
  EXPECT_EQ(presence_text("r", 2, nullptr), R"({"type":"presence","room":"r","count":2})");
  EXPECT_EQ(member_event_text(false, "r", "a"), R"({"type":"member_left","room":"r","id":"a"})");
}

}  // namespace
}  // namespace ringws
