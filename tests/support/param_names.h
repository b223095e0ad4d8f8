// Names for the cases of value-parameterised tests, so that ctest lists
// `Event/ParseRejects.WithReason/uppercase_id` rather than the case's bytes.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace fedai::test {

// `text` with every character gtest does not allow in a name made '_'.
inline std::string param_name(std::string text) {
  for (auto& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return text;
}

// A name generator for INSTANTIATE_TEST_SUITE_P over cases with a `name` field.
struct ByName {
  template <class Case>
  std::string operator()(const ::testing::TestParamInfo<Case>& info) const {
    return param_name(info.param.name);
  }
};

}  // namespace fedai::test
