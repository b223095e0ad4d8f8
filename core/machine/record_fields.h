// Binary encoding of the router's and the node's records, effects and projections (structs that
// list their fields()), with the protocol's unit types and ids, on top of BinaryWriter and
// BinaryReader. (The protocol's JSON content codecs are core/protocol/codec.h.)
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/protocol/units.h"
#include "core/util/binary.h"
#include "core/util/bytes.h"

namespace fedai::record_fields {

// Structs with fields() (see encode below) nest: declared first so the templates for optional
// and vector below find them.
template <class T>
concept HasFields = requires(const T& t) {
  t.fields();
};
template <HasFields T>
void put(BinaryWriter& w, const T& value);
template <HasFields T>
void get(BinaryReader& r, T& value);

template <std::size_t N, class Tag>
void put(BinaryWriter& w, const FixedBytes<N, Tag>& b) {
  w.fixed(std::span<const std::uint8_t, N>(b.bytes));
}
template <std::size_t N, class Tag>
void get(BinaryReader& r, FixedBytes<N, Tag>& b) {
  r.fixed(std::span<std::uint8_t, N>(b.bytes));
}
inline void put(BinaryWriter& w, protocol::Msat v) {
  w.varint(v.value());
}
inline void get(BinaryReader& r, protocol::Msat& v) {
  v = protocol::Msat{r.varint()};
}
inline void put(BinaryWriter& w, protocol::Millis v) {
  w.varint(v.value());
}
inline void get(BinaryReader& r, protocol::Millis& v) {
  v = protocol::Millis{r.varint()};
}
inline void put(BinaryWriter& w, const std::string& s) {
  w.bytes(s);
}
inline void get(BinaryReader& r, std::string& s) {
  s = std::string(r.bytes());
}
inline void put(BinaryWriter& w, bool b) {
  w.boolean(b);
}
inline void get(BinaryReader& r, bool& b) {
  b = r.boolean();
}
inline void put(BinaryWriter& w, std::int64_t v) {
  w.svarint(v);
}
inline void get(BinaryReader& r, std::int64_t& v) {
  v = r.svarint();
}
inline void put(BinaryWriter& w, std::uint64_t v) {
  w.varint(v);
}
inline void get(BinaryReader& r, std::uint64_t& v) {
  v = r.varint();
}
inline void put(BinaryWriter& w, std::uint32_t v) {
  w.varint(v);
}
inline void get(BinaryReader& r, std::uint32_t& v) {
  std::uint64_t x = r.varint();
  v = static_cast<std::uint32_t>(x);
  if (x > UINT32_MAX) r.fail();
}
template <class E>
requires std::is_enum_v<E>
void put(BinaryWriter& w, E e) {
  w.varint(static_cast<std::uint64_t>(e));
}
template <class E>
requires std::is_enum_v<E>
void get(BinaryReader& r, E& e) {
  e = static_cast<E>(r.varint());
}
template <class T>
void put(BinaryWriter& w, const std::optional<T>& v) {
  w.boolean(v.has_value());
  if (v) put(w, *v);
}
template <class T>
void get(BinaryReader& r, std::optional<T>& v) {
  if (r.boolean()) {
    T x{};
    get(r, x);
    v = std::move(x);
  } else {
    v.reset();
  }
}
template <class T>
void put(BinaryWriter& w, const std::vector<T>& v) {
  w.varint(v.size());
  for (const auto& x : v) put(w, x);
}
template <class T>
void get(BinaryReader& r, std::vector<T>& v) {
  std::uint64_t n = r.varint();
  v.clear();
  // Each element takes a byte at least: a count the input can't hold reserves no more than it.
  v.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, r.remaining())));
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    T x{};
    get(r, x);
    v.push_back(std::move(x));
  }
}

template <class K, class V>
void put(BinaryWriter& w, const std::map<K, V>& m) {
  w.varint(m.size());
  for (const auto& [k, v] : m) {
    put(w, k);
    put(w, v);
  }
}
template <class K, class V>
void get(BinaryReader& r, std::map<K, V>& m) {
  std::uint64_t n = r.varint();
  m.clear();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    K k{};
    V v{};
    get(r, k);
    get(r, v);
    m.emplace(std::move(k), std::move(v));
  }
}

// Encodes/decodes every field listed: put_all(w, a, b, c) / get_all(r, a, b, c).
template <class... T>
void put_all(BinaryWriter& w, const T&... fields) {
  (put(w, fields), ...);
}
template <class... T>
void get_all(BinaryReader& r, T&... fields) {
  (get(r, fields), ...);
}

template <HasFields T>
void put(BinaryWriter& w, const T& value) {
  std::apply([&](const auto&... f) { put_all(w, f...); }, value.fields());
}
template <HasFields T>
void get(BinaryReader& r, T& value) {
  std::apply([&](auto&... f) { get_all(r, f...); }, value.fields());
}

// A whole struct through its fields(): `auto fields() { return std::tie(a, b); }` and a const
// overload.
template <HasFields T>
std::string encode(const T& value) {
  BinaryWriter w;
  put(w, value);
  return std::move(w).data();
}
template <HasFields T>
std::optional<T> decode(std::string_view bytes) {
  T value{};
  BinaryReader r(bytes);
  get(r, value);
  if (!r.finished()) return std::nullopt;
  return value;
}

}  // namespace fedai::record_fields
