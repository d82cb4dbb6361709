#!/bin/bash
# `bazel coverage` merger: folds the gcov JSON files (gcc >= 9) found under
# --coverage_dir into one lcov tracefile at --output_file (workspace sources only).
exec python3 - "$@" <<'PY'
import glob, gzip, json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
counts = {}
for path in glob.glob(os.path.join(args.get("coverage_dir", "."), "**", "*.gcov.json.gz"), recursive=True):
    with gzip.open(path, "rt") as fh:
        for src in json.load(fh).get("files", []):
            if src["file"].startswith("/"):
                continue
            per_line = counts.setdefault(src["file"], {})
            for line in src.get("lines", []):
                per_line[line["line_number"]] = per_line.get(line["line_number"], 0) + line["count"]
with open(args["output_file"], "w") as out:
    for name, per_line in sorted(counts.items()):
        out.write("SF:%s\n" % name)
        for number, hits in sorted(per_line.items()):
            out.write("DA:%d,%d\n" % (number, hits))
        out.write("LH:%d\nLF:%d\nend_of_record\n" % (sum(1 for h in per_line.values() if h), len(per_line)))
PY
