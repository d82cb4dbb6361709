// Invariant checks for the wire fuzz targets: a violated invariant must stop
// the run loudly (abort), whether under libFuzzer or the replay driver.
#ifndef PMI_SHIM_TOOLS_BUILD_FUZZ_CHECK_H_
#define PMI_SHIM_TOOLS_BUILD_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

#endif  // PMI_SHIM_TOOLS_BUILD_FUZZ_CHECK_H_
