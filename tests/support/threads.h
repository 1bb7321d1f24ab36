// tests/support/threads.h — running one body on many threads released together.
//
// THREAD SAFETY: `body` runs on n threads at once; it must keep doctest assertions off
// them (collect what went wrong, assert on the calling thread).
#pragma once

#include <cstddef>
#include <latch>
#include <thread>
#include <vector>

namespace test_support {

// Runs body(t) for t in [0, n) on n threads released together, and joins them.
template <class F>
void run_threads(int n, F body) {
  std::latch start(n);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int t = 0; t < n; ++t)
    threads.emplace_back([&start, &body, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (auto& th : threads) th.join();
}

}  // namespace test_support
