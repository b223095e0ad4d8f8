// Writes the signed example events of nips/examples/ (see nips/examples/README.md):
//   make_nip_examples <dir>
// The output is reproducible; tests/core/nips_examples_test.cpp fails when the committed files
// differ from what the builders make today, so run this after changing a builder on purpose.
#include <fstream>
#include <iostream>

#include "tests/tools/nip_examples.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_nip_examples <nips/examples directory>\n";
    return 2;
  }
  try {
    for (const auto& file : fedai::test::make_nip_examples()) {
      std::string path = std::string(argv[1]) + "/" + file.name;
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << file.content;
      if (!out) {
        std::cerr << "cannot write " << path << "\n";
        return 1;
      }
      std::cout << path << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "make_nip_examples: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
