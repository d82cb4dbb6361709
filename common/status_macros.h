// Statement-safe helpers for propagating absl::Status / absl::StatusOr.
//
// Debian's abseil (20220623) has no status_macros.h, so pmi-shim carries its
// own two:
//
//   RETURN_IF_ERROR(DoThing());                 // returns the Status if not ok
//   ASSIGN_OR_RETURN(UniqueFd fd, OpenThing()); // unwraps or returns the error
#ifndef PMI_SHIM_COMMON_STATUS_MACROS_H_
#define PMI_SHIM_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PMI_SHIM_CONCAT_INNER_(a, b) a##b
#define PMI_SHIM_CONCAT_(a, b) PMI_SHIM_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                 \
  do {                                        \
    ::absl::Status pmi_shim_status_ = (expr); \
    if (!pmi_shim_status_.ok()) {             \
      return pmi_shim_status_;                \
    }                                         \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  PMI_SHIM_ASSIGN_OR_RETURN_IMPL_(PMI_SHIM_CONCAT_(pmi_shim_statusor_, __LINE__), lhs, expr)

#define PMI_SHIM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) {                                      \
    return std::move(statusor).status();                     \
  }                                                          \
  lhs = *std::move(statusor)

#endif  // PMI_SHIM_COMMON_STATUS_MACROS_H_
