// The applications ringws ships (--app): chat (rooms, docs/protocol.md), echo (the
// conformance target) and shootout (the websocket-shootout benchmark protocol).
#pragma once

#include <memory>
#include <string_view>

#include "chat/chat_options.h"
#include "core/engine/app.h"

namespace ringws {

/// The module for app `name`; nullptr for an unknown name.
std::unique_ptr<AppModule> make_app_module(std::string_view name, const ChatOptions& chat);

}  // namespace ringws
