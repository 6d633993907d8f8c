#include "core/json_text.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace ringws {
namespace {

std::string json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// What a JSON parser reads back from `document`, or nothing if it is not one JSON string.
// simdjson also rejects invalid UTF-8 in the document.
std::optional<std::string> decode(std::string_view document) {
  static simdjson::dom::parser parser;
  std::string_view value;
  if (parser.parse(simdjson::padded_string(document)).get(value) != simdjson::SUCCESS) return std::nullopt;
  return std::string(value);
}

TEST(JsonText, TheCheckerRefusesWhatAnEscaperMustNotProduce) {
  for (std::string_view bad : {"\"a\x01\"", "\"a\nb\"", "\"\xff\"", "\"a", "\"\\u00\"", "\"a\"b\"", "\"\\\""})
    EXPECT_FALSE(decode(bad).has_value()) << bad;
  EXPECT_EQ(decode("\"ok\""), "ok");
}

TEST(JsonText, PlainTextIsOnlyQuoted) {
  EXPECT_EQ(json(""), "\"\"");
  EXPECT_EQ(json("203.0.113.7"), "\"203.0.113.7\"");
  EXPECT_EQ(json("/chat?room=a&b=c/d'e"), "\"/chat?room=a&b=c/d'e\"");
}

TEST(JsonText, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(json("\""), R"("\"")");
  EXPECT_EQ(json("\\"), R"("\\")");
  EXPECT_EQ(json(R"(/x","level":"error)"), R"("/x\",\"level\":\"error")");
  EXPECT_EQ(json(R"(a\"b)"), R"("a\\\"b")");
}

TEST(JsonText, EveryControlCharacterIsEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    std::string expected;
    if (c == '\n') expected = "\\n";
    else if (c == '\r') expected = "\\r";
    else if (c == '\t') expected = "\\t";
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      expected = buf;
    }
    const std::string in(1, static_cast<char>(c));
    EXPECT_EQ(json(in), "\"" + expected + "\"") << "control " << c;
    EXPECT_EQ(decode(json(in)), in) << "control " << c;
  }
  // DEL and the C1 controls too (JSON allows them raw; terminals do not ignore them).
  EXPECT_EQ(json("\x7f"), "\"\\u007f\"");
  EXPECT_EQ(json("\xc2\x80"), "\"\\u0080\"");
  EXPECT_EQ(json("\xc2\x9b"), "\"\\u009b\"");
  EXPECT_EQ(json("\xc2\x9f"), "\"\\u009f\"");
  EXPECT_EQ(json("\xc2\xa0"), "\"\xc2\xa0\"");  // NBSP is printable
}

TEST(JsonText, ValidUtf8PassesThrough) {
  for (const char* s : {"caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e", "\xed\x9f\xbf" /* U+D7FF */,
                        "\xee\x80\x80" /* U+E000 */, "\xef\xbf\xbf" /* U+FFFF */,
                        "\xf4\x8f\xbf\xbf" /* U+10FFFF */, "\xe0\xa0\x80" /* U+0800 */,
                        "\xf0\x90\x80\x80" /* U+10000 */, "\xdf\xbf" /* U+07FF */}) {
    EXPECT_EQ(json(s), std::string("\"") + s + "\"") << s;
    EXPECT_EQ(decode(json(s)), s);
  }
}

TEST(JsonText, InvalidUtf8BecomesOneReplacementPerMaximalSubpart) {
  const std::string r = "\\ufffd";
  struct Case {
    const char* name;
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"lone continuation", "a\x80z", "a" + r + "z"},
      {"two continuations", "\xbf\x80", r + r},
      {"C0 lead (overlong '/')", "\xc0\xaf", r + r},
      {"C1 lead (overlong)", "\xc1\xbf", r + r},
      {"overlong 3-byte NUL", "\xe0\x80\x80", r + r + r},
      {"overlong 3-byte", "\xe0\x9f\xbf", r + r + r},
      {"overlong 4-byte", "\xf0\x8f\xbf\xbf", r + r + r + r},
      {"surrogate U+D800", "\xed\xa0\x80", r + r + r},
      {"surrogate U+DFFF", "\xed\xbf\xbf", r + r + r},
      {"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb2\xa9", r + r + r + r + r + r},
      {"past U+10FFFF", "\xf4\x90\x80\x80", r + r + r + r},
      {"F5 lead", "\xf5\x80\x80\x80", r + r + r + r},
      {"FF", "\xff", r},
      {"FE", "x\xfe", "x" + r},
      {"2-byte cut at the end", "a\xc3", "a" + r},
      {"3-byte cut at the end", "\xe2\x82", r},
      {"4-byte cut at the end", "\xf0\x9d\x84", r},
      {"3-byte cut before ASCII", "\xe2\x82z", r + "z"},
      {"4-byte cut before a quote", "\xf0\x9d\"", r + "\\\""},
      {"cut before a valid sequence", "\xe2\xc3\xa9", r + "\xc3\xa9"},
      {"lead then lead", "\xc3\xc3", r + r},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(json(c.in), "\"" + c.out + "\"") << c.name;
    EXPECT_TRUE(decode(json(c.in)).has_value()) << c.name;
  }
}

TEST(JsonText, RandomBytesAlwaysGiveOneJsonString) {
  std::mt19937 rng(1234);
  // Bytes weighted toward the interesting ones: quotes, controls, UTF-8 leads and continuations.
  const std::vector<uint8_t> alphabet = {'a', '"', '\\', '\n', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2,
                                         0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90};
  for (int round = 0; round < 20000; ++round) {
    std::string in(rng() % 12, '\0');
    for (char& ch : in) ch = static_cast<char>(alphabet[rng() % alphabet.size()]);
    const std::string out = json(in);
    ASSERT_TRUE(decode(out).has_value()) << testing::PrintToString(in) << " -> " << out;
  }
}

TEST(JsonText, ValidUtf8RoundTrips) {
  const std::string in = "a\"b\\c\n\r\t\x01 caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \x7f\xc2\x85";
  EXPECT_EQ(decode(json(in)), in);
}

// --- write_json_string and JsonEscaped ------------------------------------------------------

std::string bounded(std::string_view text, size_t capacity) {
  std::string buf(capacity, '\xaa');
  size_t n = write_json_string(text, buf.data(), capacity);
  EXPECT_LT(n, capacity);
  EXPECT_EQ(buf[n], '\0');
  return buf.substr(0, n);
}

TEST(JsonEscaped, FitsWhenThereIsRoom) {
  JsonEscaped<64> e(R"(/x","level":"error)");
  EXPECT_STREQ(e.c_str(), R"("/x\",\"level\":\"error")");
  EXPECT_EQ(e.view(), json(R"(/x","level":"error)"));
  JsonEscaped<3> empty("");
  EXPECT_STREQ(empty.c_str(), "\"\"");
}

TEST(JsonEscaped, TruncatesBetweenUnitsAndKeepsTheClosingQuote) {
  EXPECT_EQ(bounded("abcdef", 8), "\"abcde\"");  // 7 bytes: N - 1
  EXPECT_EQ(bounded("abcdef", 3), "\"\"");
  // An escape is never split: `"ab\"` with a closing quote needs 6 bytes.
  EXPECT_EQ(bounded("ab\"cd", 7), "\"ab\\\"\"");
  EXPECT_EQ(bounded("ab\"cd", 6), "\"ab\"");
  EXPECT_EQ(bounded("a\x01", 10), "\"a\\u0001\"");  // 9 bytes
  EXPECT_EQ(bounded("a\x01", 9), "\"a\"");
  EXPECT_EQ(bounded("a\xff", 10), "\"a\\ufffd\"");
  EXPECT_EQ(bounded("a\xff", 9), "\"a\"");  // nor a replacement
  // Nor a UTF-8 sequence: "a€" is 6 bytes with its quotes.
  EXPECT_EQ(bounded("a\xe2\x82\xac", 7), "\"a\xe2\x82\xac\"");
  EXPECT_EQ(bounded("a\xe2\x82\xac", 6), "\"a\"");
  EXPECT_EQ(bounded("a\xe2\x82\xac", 5), "\"a\"");
  EXPECT_EQ(bounded("\xf0\x9d\x84\x9e", 6), "\"\"");
}

TEST(JsonEscaped, EveryCapacityGivesTheLongestWholePrefix) {
  const std::string in = "/p\"\\\x01\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xff\xed\xa0\x80\xc2\x85z";
  const std::string full = json(in);
  size_t previous = 0;
  for (size_t cap = 3; cap <= full.size() + 4; ++cap) {
    SCOPED_TRACE(cap);
    const std::string out = bounded(in, cap);
    ASSERT_LE(out.size(), cap - 1);
    ASSERT_TRUE(decode(out).has_value()) << out;
    // A prefix of the full string (minus its closing quote), growing with the capacity, and
    // short of the limit by less than one unit (at most 6 bytes).
    ASSERT_EQ(full.compare(0, out.size() - 1, out, 0, out.size() - 1), 0) << out;
    ASSERT_GE(out.size(), previous);
    if (cap > full.size()) {
      ASSERT_EQ(out, full);
    } else {
      ASSERT_GT(out.size() + 6, cap - 1);
    }
    previous = out.size();
  }
}

TEST(JsonEscaped, TinyCapacitiesWriteNothingButTheNul) {
  char buf[2] = {'x', 'x'};
  EXPECT_EQ(write_json_string("abc", buf, 2), 0u);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(write_json_string("abc", buf, 0), 0u);
}

}  // namespace
}  // namespace ringws
