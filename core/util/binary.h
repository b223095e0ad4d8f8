// A small binary codec for records and projections: varints, fixed-width integers, strings.
//
// The state machine's log is replayed at a million records a second, so what it stores is read
// without a JSON parser. Readers are bounds-checked: a short or corrupt buffer makes every later
// read fail (ok() turns false) instead of reading past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace fedai {

class BinaryWriter {
 public:
  void u8(std::uint8_t v) { out_ += static_cast<char>(v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  // Zig-zag, so small negative numbers stay small.
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void u64be(std::uint64_t v) {
    for (int i = 7; i >= 0; --i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void bytes(std::string_view s) {
    varint(s.size());
    out_ += s;
  }
  template <std::size_t N>
  void fixed(std::span<const std::uint8_t, N> b) {
    out_.append(reinterpret_cast<const char*>(b.data()), N);
  }

  const std::string& data() const& { return out_; }
  std::string data() && { return std::move(out_); }

 private:
  std::string out_;
};

// Eight bytes, big-endian: a key that sorts by number (LMDB compares keys bytewise).
inline std::string be64_key(std::uint64_t v) {
  BinaryWriter w;
  w.u64be(v);
  return std::move(w).data();
}

class BinaryReader {
 public:
  explicit BinaryReader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  // Marks the input as malformed (a decoder found a value out of range).
  void fail() { ok_ = false; }
  bool at_end() const { return pos_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - pos_; }
  // True when everything was read and nothing is left over.
  bool finished() const { return ok_ && at_end(); }

  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  bool boolean() { return u8() != 0; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      auto b = static_cast<std::uint8_t>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  std::int64_t svarint() {
    std::uint64_t z = varint();
    return static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
  }
  std::uint64_t u64be() {
    if (!need(8)) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[pos_++]);
    return v;
  }
  std::string_view bytes() {
    std::uint64_t n = varint();
    if (!need(n)) return {};
    std::string_view out = in_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  template <std::size_t N>
  void fixed(std::span<std::uint8_t, N> out) {
    if (!need(N)) return;
    std::memcpy(out.data(), in_.data() + pos_, N);
    pos_ += N;
  }

 private:
  bool need(std::uint64_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace fedai
