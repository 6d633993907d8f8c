// --app shootout: the websocket-shootout protocol, so that its websocket-bench tool and our
// own load generator can measure broadcast capacity.
//   {"type":"echo","payload":X}      -> the same message back to the sender
//   {"type":"broadcast","payload":X} -> the same message to every client on every reactor,
//                                       then {"type":"broadcastResult","payload":X} to the sender
// A message that is not such JSON is answered with an error object and otherwise ignored.
#include <simdjson.h>

#include <string>

#include "core/engine/app.h"
#include "core/engine/engine.h"

namespace ringws {

class ShootoutApp final : public App {
 public:
  void on_message(Engine& engine, ConnId conn, Opcode opcode, std::span<const uint8_t> payload) override {
    if (opcode != Opcode::kText) return reply_error(engine, conn, "expected a JSON text message");
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: parse a padded copy, in a
    // buffer this reactor reuses.
    std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
    padded_.assign(text);
    padded_.append(simdjson::SIMDJSON_PADDING, '\0');
    simdjson::ondemand::document doc;
    std::string_view type, type_token;
    if (parser_.iterate(padded_.data(), text.size(), padded_.size()).get(doc) != simdjson::SUCCESS)
      return reply_error(engine, conn, "invalid JSON");
    simdjson::ondemand::value type_value;
    if (doc["type"].get(type_value) != simdjson::SUCCESS) return reply_error(engine, conn, "missing type");
    type_token = type_value.raw_json_token();
    if (type_value.get_string().get(type) != simdjson::SUCCESS)
      return reply_error(engine, conn, "type is not a string");
    if (type == "echo") {
      if (SharedFrame* f = make_frame(Opcode::kText, payload)) engine.send(conn, f);
    } else if (type == "broadcast") {
      if (SharedFrame* f = make_frame(Opcode::kText, payload)) engine.broadcast(f);
      // The result is the request with its type renamed: the payload stays byte for byte.
      size_t at = static_cast<size_t>(type_token.data() - padded_.data());
      std::string result;
      result.reserve(text.size() + 6);
      result.append(text.substr(0, at)).append("\"broadcastResult\"");
      // raw_json_token may include trailing white space; keep what follows the closing quote.
      size_t end = text.find('"', at + 1) + 1;
      result.append(text.substr(end));
      if (SharedFrame* f = make_text_frame(result)) engine.send(conn, f);
    } else {
      reply_error(engine, conn, "unknown type");
    }
  }

 private:
  /// `reason` is a fixed ASCII text without quotes or backslashes: no escaping needed.
  void reply_error(Engine& engine, ConnId conn, std::string_view reason) {
    std::string msg = "{\"type\":\"error\",\"reason\":\"";
    msg.append(reason).append("\"}");
    if (SharedFrame* f = make_text_frame(msg)) engine.send(conn, f);
  }

  simdjson::ondemand::parser parser_;
  std::string padded_;
};

std::unique_ptr<App> make_shootout_app() { return std::make_unique<ShootoutApp>(); }

}  // namespace ringws
