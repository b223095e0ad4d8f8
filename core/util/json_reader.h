// A strict, allocation-light JSON tokenizer for the hot paths (events and relay messages).
//
// nlohmann::json is fedai's JSON library, but reading a 400-byte event through it costs about
// as much as hashing ten of them, and relays and pools parse every event they see. JsonReader is
// a cursor over the input that reads exactly what the caller expects next (a string, an
// integer, a '[') and skips what it does not care about, validating RFC 8259 as it goes: UTF-8
// (no overlongs, no surrogates, nothing above U+10FFFF), escapes with paired surrogates, no raw
// control characters in strings, the number grammar. Anything else is a syntax error with its
// byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fedai {

class JsonReader {
 public:
  explicit JsonReader(std::string_view text);

  // The cursor, as a byte offset into the text.
  std::size_t offset() const { return static_cast<std::size_t>(pos_ - begin_); }
  // The first syntax error, empty if none ("expected ',' at byte 17").
  const std::string& error() const { return error_; }
  bool failed() const { return !error_.empty(); }

  // Skips whitespace and returns the next byte without consuming it ('\0' at the end).
  char peek();
  // Skips whitespace; true at the end of the input.
  bool at_end();
  // Skips whitespace and consumes `c` if it is next; otherwise false (no error recorded).
  bool consume(char c);
  // As consume, but records a syntax error when `c` is not next.
  bool expect(char c);

  // Reads a string token, decoding escapes, and appends its UTF-8 to `out`.
  bool read_string(std::string& out);
  // Reads a string token without copying when it has no escapes: `out` then points into the
  // input; otherwise the decoded string goes to `scratch` (cleared first) and `out` views it.
  bool read_string_view(std::string_view& out, std::string& scratch);

  struct Number {
    bool negative = false;
    bool integral = true;   // no fraction or exponent
    bool overflow = false;  // integral but beyond 64 bits
    std::uint64_t magnitude = 0;
  };
  // Reads a number token (the grammar of RFC 8259).
  bool read_number(Number& out);

  // Reads true or false.
  bool read_bool(bool& out);

  // Skips one value of any type, nested at most max_depth deep.
  bool skip_value(int max_depth = 64);

  // Records a syntax error at the cursor (keeps the first one).
  bool fail(std::string_view what);

 private:
  bool skip_value_at(int depth_left);
  bool read_literal(std::string_view word);
  bool read_escape(std::string& out);
  bool read_utf8(std::string& out);

  const char* begin_;
  const char* pos_;
  const char* end_;
  std::string error_;
};

// True when `text` is well-formed UTF-8 by the rules JsonReader applies to strings.
bool is_valid_utf8(std::string_view text);

}  // namespace fedai
