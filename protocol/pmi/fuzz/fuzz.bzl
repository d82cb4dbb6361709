"""One macro per wire fuzz target: library, fuzzer/replay binary, corpus test."""

def wire_fuzz_target(name, deps, corpus):
    """Declares <name>_lib, <name> and <name>_corpus_test.

    <name> is a libFuzzer binary under --define=fuzzer=libfuzzer (the runtime
    brings main) and otherwise a replay binary (replay_main.cc). The corpus
    test replays every seed in `corpus` on each `bazel test`.
    """
    seeds = native.glob([corpus + "/**"])
    native.cc_library(
        name = name + "_lib",
        srcs = [name + ".cc"],
        deps = deps + [":fuzz_check"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        srcs = select({
            ":libfuzzer": [],
            "//conditions:default": ["replay_main.cc"],
        }),
        deps = [":" + name + "_lib"],
    )
    # libFuzzer's runtime brings its own main, which replays a directory and
    # stops with -runs=0; replay_main ignores that flag, libFuzzer (with a
    # warning) the -min_inputs one.
    native.cc_test(
        name = name + "_corpus_test",
        size = "small",
        srcs = select({
            ":libfuzzer": [],
            "//conditions:default": ["replay_main.cc"],
        }),
        args = [
            "-runs=0",
            "-min_inputs=%d" % max(1, len(seeds)),
            native.package_name() + "/" + corpus,
        ],
        data = seeds,
        deps = [":" + name + "_lib"],
    )
