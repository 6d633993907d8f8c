// The memory governor's figures in Prometheus text, for GET /metrics.
#pragma once

#include <string>

#include "core/memory_governor.h"

namespace ringws {

/// Appends the limit, high-water mark, usage, the over-high-water flag, where the limit and
/// usage come from (an info metric), and the refusals by kind (ringws_shed_total{what=...}).
void append_memory_metrics(const MemoryGovernor& governor, std::string& out);

}  // namespace ringws
