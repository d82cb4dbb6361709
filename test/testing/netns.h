// Private network namespace for end-to-end tests.
//
// Tests start real launchers and MPI jobs that open TCP listeners (PMI_PORT,
// UCX, hydra's control sockets). Moving the test process into a fresh network
// namespace whose only interface is its own loopback keeps every byte of that
// traffic off the machine's real interfaces and lets parallel tests reuse
// ports without clashing. Children inherit the namespace.
#ifndef PMI_SHIM_TEST_TESTING_NETNS_H_
#define PMI_SHIM_TEST_TESTING_NETNS_H_

#include "absl/status/status.h"

namespace pmi_shim::testutil {

// unshare(CLONE_NEWNET) for the calling process, then bring `lo` up.
// Call it while the process is still single-threaded (first thing in main).
// Fails with PermissionDenied without CAP_SYS_ADMIN; the caller should then
// skip the tests that rely on it, saying why.
absl::Status EnterPrivateNetworkNamespace();

// The result of the EnterPrivateNetworkNamespace() call made by
// netns_test_main (OkStatus if it succeeded; Unknown if it was never called).
absl::Status NetnsStatus();

// Records the result for NetnsStatus(); used by netns_test_main.
void SetNetnsStatus(absl::Status status);

}  // namespace pmi_shim::testutil

#endif  // PMI_SHIM_TEST_TESTING_NETNS_H_
