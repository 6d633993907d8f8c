// render_emf reads the reactors only through state.engines, which stays empty here: the
// counters are all zero and the line's shape is what is under test.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "core/config.h"
#include "core/http/metrics.h"
#include "core/memory_governor.h"
#include "core/server_state.h"

namespace ringws {
namespace {

struct Dimension {
  std::string name, value;
};

std::string dimension_list(const std::vector<Dimension>& dims) {
  std::string list;
  for (const Dimension& d : dims) {
    if (!list.empty()) list += ',';
    list += d.name + "=" + d.value;
  }
  return list;
}

// Parses `line` as one JSON object and checks the namespace and every dimension in it.
void expect_emf(const std::string& line, const std::string& ns, const std::vector<Dimension>& dims) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(simdjson::padded_string(line)).get(root), simdjson::SUCCESS) << line;
  simdjson::dom::object directive;
  ASSERT_EQ(root["_aws"]["CloudWatchMetrics"].at(0).get(directive), simdjson::SUCCESS);
  std::string_view got_ns;
  ASSERT_EQ(directive["Namespace"].get(got_ns), simdjson::SUCCESS);
  EXPECT_EQ(got_ns, ns);
  simdjson::dom::array names;
  ASSERT_EQ(directive["Dimensions"].at(0).get(names), simdjson::SUCCESS);
  ASSERT_EQ(names.size(), dims.size());
  size_t i = 0;
  for (simdjson::dom::element name : names) {
    std::string_view got_name, got_value;
    ASSERT_EQ(name.get(got_name), simdjson::SUCCESS);
    EXPECT_EQ(got_name, dims[i].name);
    // Each dimension's value is a top-level member named after it.
    ASSERT_EQ(root[got_name].get(got_value), simdjson::SUCCESS) << dims[i].name;
    EXPECT_EQ(got_value, dims[i].value);
    ++i;
  }
  // The metrics follow the dimensions, so a cut line would lose them first.
  uint64_t open = 1;
  EXPECT_EQ(root["ConnectionsOpen"].get(open), simdjson::SUCCESS);
  EXPECT_EQ(open, 0u);
  uint64_t rss = 0;
  EXPECT_EQ(root["ResidentMemory"].get(rss), simdjson::SUCCESS);
  EXPECT_GT(rss, 0u);
}

TEST(RenderEmf, LongDimensionListsGiveOneCompleteLine) {
  std::vector<Dimension> dims;
  for (int i = 0; i < 24; ++i)
    dims.push_back({"Dimension" + std::to_string(i), std::string(200, static_cast<char>('a' + i % 26))});
  Config config;
  config.emf_dimensions = dimension_list(dims);
  MemoryGovernor governor;
  ServerState state(config, governor);
  EmfCounters previous;
  std::string line = render_emf(state, 1700000000000, previous);
  EXPECT_GT(line.size(), 4096u);
  expect_emf(line, "ringws", dims);
}

TEST(RenderEmf, NamespaceAndDimensionsAreEscaped) {
  const std::vector<Dimension> dims = {{"Service", "ring\"ws"}, {"Path\\Name", "a\\b"}, {"Tab", "x\ty"},
                                       {"Quote\"", "\"}{\"injected\":\"1"}};  // no comma: it separates pairs
  Config config;
  config.emf_namespace = "name\"space\\";
  config.emf_dimensions = dimension_list(dims);
  MemoryGovernor governor;
  ServerState state(config, governor);
  EmfCounters previous;
  std::string line = render_emf(state, 1, previous);
  expect_emf(line, "name\"space\\", dims);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(simdjson::padded_string(line)).get(root), simdjson::SUCCESS);
  EXPECT_EQ(root["injected"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(RenderEmf, DefaultDimensions) {
  Config config;
  MemoryGovernor governor;
  ServerState state(config, governor);
  EmfCounters previous;
  expect_emf(render_emf(state, 1, previous), "ringws", {{"Service", "ringws"}});
}

}  // namespace
}  // namespace ringws
