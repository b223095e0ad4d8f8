#include "core/util/json_reader.h"

#include <array>
#include <cstring>

#include "core/util/swar.h"

namespace fedai {
namespace {

// 0: copy verbatim; 1: '"' ends the string; 2: '\\' starts an escape; 3: control byte (error);
// 4: start of a multi-byte UTF-8 sequence.
constexpr std::array<std::uint8_t, 256> make_string_classes() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 3;
  t['"'] = 1;
  t['\\'] = 2;
  for (int c = 0x80; c < 256; ++c) t[c] = 4;
  return t;
}
constexpr auto kStringClass = make_string_classes();

// The first byte from p on that is not plain inside a string (class 0): a quote, a backslash, a
// control character or the start of a multi-byte UTF-8 sequence; or end.
const char* skip_plain(const char* p, const char* end) {
  for (; end - p >= 8; p += 8) {
    std::uint64_t v = swar::load(p);
    if (auto f = swar::below(v, 0x20) | swar::equal(v, '"') | swar::equal(v, '\\') | swar::high(v))
      return p + swar::first(f);
  }
  while (p < end && kStringClass[static_cast<unsigned char>(*p)] == 0) ++p;
  return p;
}

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

JsonReader::JsonReader(std::string_view text)
    : begin_(text.data()), pos_(text.data()), end_(text.data() + text.size()) {
  // RFC 8259 lets a parser ignore a leading byte order mark; nlohmann and browsers do.
  if (text.size() >= 3 && std::memcmp(pos_, "\xEF\xBB\xBF", 3) == 0) pos_ += 3;
}

bool JsonReader::fail(std::string_view what) {
  if (error_.empty()) {
    error_.assign(what);
    error_ += " at byte ";
    error_ += std::to_string(offset());
  }
  return false;
}

char JsonReader::peek() {
  while (pos_ < end_ && is_ws(*pos_)) ++pos_;
  return pos_ < end_ ? *pos_ : '\0';
}

bool JsonReader::at_end() {
  peek();
  return pos_ == end_;
}

bool JsonReader::consume(char c) {
  if (peek() != c || pos_ == end_) return false;
  ++pos_;
  return true;
}

bool JsonReader::expect(char c) {
  if (consume(c)) return true;
  if (pos_ == end_) return fail(std::string("unexpected end of input, expected '") + c + "'");
  return fail(std::string("expected '") + c + "'");
}

bool JsonReader::read_string(std::string& out) {
  if (peek() != '"' || pos_ == end_) return fail("expected a string");
  ++pos_;
  for (;;) {
    const char* run = pos_;
    pos_ = skip_plain(pos_, end_);
    out.append(run, static_cast<std::size_t>(pos_ - run));
    if (pos_ == end_) return fail("unterminated string");
    switch (kStringClass[static_cast<unsigned char>(*pos_)]) {
      case 1:
        ++pos_;
        return true;
      case 2:
        if (!read_escape(out)) return false;
        break;
      case 3:
        return fail("control character in string");
      default:
        if (!read_utf8(out)) return false;
    }
  }
}

bool JsonReader::read_string_view(std::string_view& out, std::string& scratch) {
  if (peek() != '"' || pos_ == end_) return fail("expected a string");
  const char* start = pos_ + 1;
  const char* p = start;
  p = skip_plain(p, end_);
  if (p < end_ && *p == '"') {  // plain ASCII without escapes: the common case
    out = std::string_view(start, static_cast<std::size_t>(p - start));
    pos_ = p + 1;
    return true;
  }
  scratch.clear();
  if (!read_string(scratch)) return false;
  out = scratch;
  return true;
}

bool JsonReader::read_escape(std::string& out) {
  ++pos_;  // the backslash
  if (pos_ == end_) return fail("unterminated string");
  char c = *pos_++;
  switch (c) {
    case '"':
      out += '"';
      return true;
    case '\\':
      out += '\\';
      return true;
    case '/':
      out += '/';
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      break;
    default:
      return fail("invalid escape in string");
  }
  auto read_hex4 = [this](std::uint32_t& v) {
    if (end_ - pos_ < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex_value(pos_[i]);
      if (h < 0) return false;
      v = (v << 4) | static_cast<std::uint32_t>(h);
    }
    pos_ += 4;
    return true;
  };
  std::uint32_t cp;
  if (!read_hex4(cp)) return fail("invalid \\u escape");
  if (cp >= 0xdc00 && cp <= 0xdfff) return fail("lone low surrogate in \\u escape");
  if (cp >= 0xd800 && cp <= 0xdbff) {
    std::uint32_t low;
    if (end_ - pos_ < 2 || pos_[0] != '\\' || pos_[1] != 'u')
      return fail("high surrogate not followed by a low surrogate");
    pos_ += 2;
    if (!read_hex4(low) || low < 0xdc00 || low > 0xdfff)
      return fail("high surrogate not followed by a low surrogate");
    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
  }
  append_utf8(out, cp);
  return true;
}

namespace {

enum class Utf8 { ok, invalid, truncated };

// The multi-byte sequence at p (its first byte is 0x80 or above): its length in `len`.
Utf8 utf8_sequence(const char* p, const char* end, std::size_t& len) {
  auto b0 = static_cast<unsigned char>(p[0]);
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte (Unicode table 3-7)
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;  // no overlongs
    if (b0 == 0xed) hi = 0x9f;  // no surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;  // no overlongs
    if (b0 == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
  } else {
    return Utf8::invalid;
  }
  if (static_cast<std::size_t>(end - p) < len) return Utf8::truncated;
  auto b1 = static_cast<unsigned char>(p[1]);
  if (b1 < lo || b1 > hi) return Utf8::invalid;
  for (std::size_t i = 2; i < len; ++i) {
    auto b = static_cast<unsigned char>(p[i]);
    if (b < 0x80 || b > 0xbf) return Utf8::invalid;
  }
  return Utf8::ok;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    std::size_t len = 0;
    if (utf8_sequence(p, end, len) != Utf8::ok) return false;
    p += len;
  }
  return true;
}

bool JsonReader::read_utf8(std::string& out) {
  std::size_t len = 0;
  switch (utf8_sequence(pos_, end_, len)) {
    case Utf8::invalid:
      return fail("invalid UTF-8 in string");
    case Utf8::truncated:
      return fail("truncated UTF-8 in string");
    case Utf8::ok:
      break;
  }
  out.append(pos_, len);
  pos_ += len;
  return true;
}

bool JsonReader::read_number(Number& out) {
  out = {};
  peek();
  if (pos_ < end_ && *pos_ == '-') {
    out.negative = true;
    ++pos_;
  }
  if (pos_ == end_ || !is_digit(*pos_)) return fail("invalid number");
  if (*pos_ == '0') {
    ++pos_;
    if (pos_ < end_ && is_digit(*pos_)) return fail("invalid number (leading zero)");
  } else {
    while (pos_ < end_ && is_digit(*pos_)) {
      auto d = static_cast<std::uint64_t>(*pos_ - '0');
      if (out.magnitude > (UINT64_MAX - d) / 10) out.overflow = true;
      out.magnitude = out.magnitude * 10 + d;
      ++pos_;
    }
  }
  if (pos_ < end_ && *pos_ == '.') {
    out.integral = false;
    ++pos_;
    if (pos_ == end_ || !is_digit(*pos_)) return fail("invalid number");
    while (pos_ < end_ && is_digit(*pos_)) ++pos_;
  }
  if (pos_ < end_ && (*pos_ == 'e' || *pos_ == 'E')) {
    out.integral = false;
    ++pos_;
    if (pos_ < end_ && (*pos_ == '+' || *pos_ == '-')) ++pos_;
    if (pos_ == end_ || !is_digit(*pos_)) return fail("invalid number");
    while (pos_ < end_ && is_digit(*pos_)) ++pos_;
  }
  if (!out.integral) out.overflow = false;
  return true;
}

bool JsonReader::read_literal(std::string_view word) {
  if (static_cast<std::size_t>(end_ - pos_) < word.size() ||
      std::memcmp(pos_, word.data(), word.size()) != 0)
    return fail("invalid literal");
  pos_ += word.size();
  return true;
}

bool JsonReader::read_bool(bool& out) {
  char c = peek();
  if (c == 't') return (out = true), read_literal("true");
  if (c == 'f') return (out = false), read_literal("false");
  return fail("expected true or false");
}

bool JsonReader::skip_value(int max_depth) {
  return skip_value_at(max_depth);
}

bool JsonReader::skip_value_at(int depth_left) {
  std::string scratch;
  switch (peek()) {
    case '"':
      return read_string(scratch);
    case 't':
      return read_literal("true");
    case 'f':
      return read_literal("false");
    case 'n':
      return read_literal("null");
    case '[': {
      if (depth_left <= 0) return fail("nesting too deep");
      ++pos_;
      if (consume(']')) return true;
      do {
        if (!skip_value_at(depth_left - 1)) return false;
      } while (consume(','));
      return expect(']');
    }
    case '{': {
      if (depth_left <= 0) return fail("nesting too deep");
      ++pos_;
      if (consume('}')) return true;
      do {
        scratch.clear();
        if (!read_string(scratch) || !expect(':') || !skip_value_at(depth_left - 1)) return false;
      } while (consume(','));
      return expect('}');
    }
    default: {
      if (pos_ == end_) return fail("unexpected end of input");
      Number n;
      return read_number(n);
    }
  }
}

}  // namespace fedai
