// The overload set for std::visit: std::visit(Overloaded{[](A&) {...}, [](B&) {...}}, v).
#pragma once

namespace fedai {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// C++20 deduces this by itself; clang before 17 (the fuzz build's) needs the guide.
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

}  // namespace fedai
