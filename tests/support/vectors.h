// Access to the official test vectors in ../shared/vectors (FEDAI_VECTORS_DIR).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace fedai::test {

inline std::string vector_path(const std::string& name) {
  return std::string(FEDAI_VECTORS_DIR) + "/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline nlohmann::json read_vector_json(const std::string& name) {
  return nlohmann::json::parse(read_file(vector_path(name)));
}

}  // namespace fedai::test
