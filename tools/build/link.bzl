"""How pmi-shim's programs are linked.

pmi-shim-hook and pmi-shim-client are fully static: the hook runs for every
container start (a dynamic load costs more than its whole fast path), and
the client runs inside images that may have no libc at all. pmi-bridge runs
once per rank and links libpmix, which Debian ships only as a shared object
with plugins: it gets static C++ runtime and abseil, and loads only libpmix
and the C libraries. Sanitizer and fuzz builds stay dynamic (their runtimes
need it)."""

def _unless_sanitized(flags):
    return select({
        "//tools/build:asan": [],
        "//tools/build:ubsan": [],
        "//tools/build:fuzz": [],
        "//conditions:default": flags,
    })

def _when_sanitized(flags):
    return select({
        "//tools/build:asan": flags,
        "//tools/build:ubsan": flags,
        "//tools/build:fuzz": flags,
        "//conditions:default": [],
    })

FULLY_STATIC_LINKOPTS = _unless_sanitized(["-static"])
# Bazel's toolchain appends a plain -lstdc++ to every link, so the C++
# runtime is pulled from its archive just before that (a dependency of
# //third_party:absl, whose archives are the last C++ code on the line):
# every C++ symbol is then bound inside the program, and the shared
# libstdc++ that the toolchain still names is mapped but not used. (An
# --as-needed here would also drop libpmix from test programs whose PMIx
# calls sit in Bazel's per-library shared objects.)
STATIC_RUNTIME_LINKOPTS = _unless_sanitized([
    "-Wl,--push-state,-Bstatic",
    "-lstdc++",
    "-Wl,--pop-state",
    "-static-libgcc",
])

# -DPMI_SHIM_DYNAMIC_BUILD in builds where the programs are linked dynamically.
DYNAMIC_BUILD_COPTS = _when_sanitized(["-DPMI_SHIM_DYNAMIC_BUILD"])
