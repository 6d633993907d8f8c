// The demo chat page (chat/demo/index.html), compiled into the binary so that GET / works
// wherever the binary is copied.
#pragma once

#include <string_view>

namespace ringws {

std::string_view demo_page();

}  // namespace ringws
