// Server-Sent Events, after the WHATWG HTML standard's "event stream interpretation".
#include <cstring>

#include "runners/http_client.h"

namespace fedai::runners {

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}

bool SseParser::feed(std::string_view bytes, const std::function<void(const Event&)>& on_event) {
  if (failed_) return false;
  if (!started_) {
    // A UTF-8 byte-order mark may open the stream; it can arrive split across feeds.
    line_.append(bytes);
    if (line_.size() < kBom.size() && kBom.substr(0, line_.size()) == line_) return true;
    started_ = true;
    std::string head = std::move(line_);
    line_.clear();
    std::string_view rest = head;
    if (rest.substr(0, kBom.size()) == kBom) rest.remove_prefix(kBom.size());
    return feed(rest, on_event);
  }
  std::size_t pos = 0;
  if (after_cr_ && !bytes.empty() && bytes.front() == '\n') pos = 1;
  after_cr_ = false;
  while (pos < bytes.size()) {
    const char* start = bytes.data() + pos;
    const void* found = std::memchr(start, '\n', bytes.size() - pos);
    const void* cr = std::memchr(start, '\r', bytes.size() - pos);
    if (cr && (!found || cr < found)) found = cr;
    if (!found) {
      line_.append(start, bytes.size() - pos);
      if (line_.size() + pending_.data.size() > max_event_bytes_) {
        failed_ = true;
        return false;
      }
      return true;
    }
    auto end = static_cast<std::size_t>(static_cast<const char*>(found) - bytes.data());
    bool is_cr = bytes[end] == '\r';
    std::string_view text(start, end - pos);
    bool ok;
    if (line_.empty()) {
      ok = line(text, on_event);
    } else {
      line_.append(text);
      std::string whole = std::move(line_);
      line_.clear();
      ok = line(whole, on_event);
    }
    if (!ok) {
      failed_ = true;
      return false;
    }
    pos = end + 1;
    if (is_cr) {
      if (pos < bytes.size()) {
        if (bytes[pos] == '\n') ++pos;
      } else {
        after_cr_ = true;
      }
    }
  }
  return true;
}

bool SseParser::line(std::string_view text, const std::function<void(const Event&)>& on_event) {
  if (text.empty()) {
    // A blank line dispatches the event, if it has data; the event type resets either way.
    if (have_data_) {
      if (!pending_.data.empty() && pending_.data.back() == '\n') pending_.data.pop_back();
      on_event(pending_);
    }
    pending_.event.clear();
    pending_.data.clear();
    have_data_ = false;
    return true;
  }
  if (text.front() == ':') return true;  // a comment (often a keep-alive ping)
  std::string_view field = text;
  std::string_view value;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (pending_.data.size() + value.size() + 1 > max_event_bytes_) return false;
    pending_.data.append(value);
    pending_.data.push_back('\n');
    have_data_ = true;
  } else if (field == "event") {
    pending_.event.assign(value);
  }
  // `id` and `retry` matter to reconnecting browsers, not to one request; others are ignored.
  return true;
}

}  // namespace fedai::runners
