// Reading a whole file in a test.
//
// With read(2), not std::ifstream: reading /proc of a process that exits
// meanwhile fails with ESRCH, which an ifstream may throw (and a throw in a
// thread that follows a running job terminates the test). Missing or
// unreadable files read as "", which is what every caller wants: a file that
// should exist is asserted on by its content.
//
//   EXPECT_THAT(ReadFile(dir + "/bridge.1.err"), StartsWith("pmi-bridge: rank 1: "));
#ifndef PMI_SHIM_TEST_TESTING_FILES_H_
#define PMI_SHIM_TEST_TESTING_FILES_H_

#include <string>

namespace pmi_shim::testutil {

// The contents of `path`, or "" when it cannot be opened.
std::string ReadFile(const std::string& path);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_FILES_H_
