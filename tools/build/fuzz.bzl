"""One macro per fuzz target: library, fuzzer/replay binary, corpus test.

Used by every package with fuzz targets (protocol/pmi/fuzz, protocol/pmix/fuzz,
image/fuzz); tools/fuzz.sh finds the binaries by their
`fuzz_target` tag and their seeds by the `fuzz_corpus=DIR` tag.
"""

def fuzz_target(name, deps, corpus):
    """Declares <name>_lib, <name> and <name>_corpus_test.

    <name> is a libFuzzer binary under --define=fuzzer=libfuzzer (the runtime
    brings main) and otherwise a replay binary (fuzz_replay_main.cc). The corpus
    test replays every seed in `corpus` on each `bazel test`.
    """
    seeds = native.glob([corpus + "/**"])
    replay_main = select({
        "//tools/build:fuzz": [],
        "//conditions:default": ["//tools/build:fuzz_replay_main.cc"],
    })
    native.cc_library(
        name = name + "_lib",
        srcs = [name + ".cc"],
        deps = deps + ["//tools/build:fuzz_check"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        srcs = replay_main,
        tags = ["fuzz_target", "fuzz_corpus=" + native.package_name() + "/" + corpus],
        deps = [":" + name + "_lib"],
    )
    # libFuzzer's runtime brings its own main, which replays a directory and
    # stops with -runs=0; replay_main ignores that flag, libFuzzer (with a
    # warning) the -min_inputs one.
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = replay_main,
        args = [
            "-runs=0",
            "-min_inputs=%d" % max(1, len(seeds)),
            native.package_name() + "/" + corpus,
        ],
        data = seeds,
        deps = [":" + name + "_lib"],
    )

