#include "core/byte_size.h"

#include <charconv>

namespace ringws {

namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

constexpr Unit kUnits[] = {
    {"K", 1000ull},          {"M", 1000ull * 1000},          {"G", 1000ull * 1000 * 1000},
    {"T", 1000ull * 1000 * 1000 * 1000},
    {"Ki", 1ull << 10},      {"Mi", 1ull << 20},             {"Gi", 1ull << 30},
    {"Ti", 1ull << 40},
};

}  // namespace

bool parse_size(std::string_view text, uint64_t& out) {
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  // from_chars takes no sign or space for unsigned types, so the digits start at data().
  if (ec != std::errc() || end == text.data()) return false;
  std::string_view suffix(end, static_cast<size_t>(text.data() + text.size() - end));
  uint64_t factor = 1;
  if (!suffix.empty()) {
    factor = 0;
    for (const Unit& u : kUnits) {
      if (u.suffix == suffix) factor = u.factor;
    }
    if (factor == 0) return false;
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(number, factor, &bytes)) return false;
  out = bytes;
  return true;
}

}  // namespace ringws
