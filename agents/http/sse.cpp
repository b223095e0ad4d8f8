#include "agents/http/sse.h"

namespace fedai::agents::http {
namespace {

constexpr std::string_view kEventField = "event: ";
constexpr std::string_view kDataField = "data: ";

// Calls `line` for each line of `data`, split on CRLF, CR or LF; at least once.
template <class F>
void for_each_line(std::string_view data, F&& line) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (c != '\n' && c != '\r') continue;
    line(data.substr(start, i - start));
    if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
    start = i + 1;
  }
  line(data.substr(start));
}

std::size_t clean_name_size(std::string_view name) {
  std::size_t n = 0;
  for (char c : name)
    if (c != '\r' && c != '\n') ++n;
  return n;
}

}  // namespace

std::size_t sse_event_size(std::string_view name, std::string_view data) {
  std::size_t n = 1;  // the blank line
  if (!name.empty()) n += kEventField.size() + clean_name_size(name) + 1;
  for_each_line(data, [&](std::string_view l) { n += kDataField.size() + l.size() + 1; });
  return n;
}

void append_sse_event(std::string& out, std::string_view name, std::string_view data) {
  out.reserve(out.size() + sse_event_size(name, data));
  if (!name.empty()) {
    out += kEventField;
    for (char c : name)
      if (c != '\r' && c != '\n') out += c;
    out += '\n';
  }
  for_each_line(data, [&](std::string_view l) {
    out += kDataField;
    out += l;
    out += '\n';
  });
  out += '\n';
}

}  // namespace fedai::agents::http
