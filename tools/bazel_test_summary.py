#!/usr/bin/env python3
"""Prints 'N passed, N failed' for a test-suite run, as its last line (CI
reads it); skipped test cases, if any, are counted on the line before.

Usage: bazel_test_summary.py [--extra FILE] BEP.json [BEP.json ...]

Each BEP file is a `bazel test --build_event_json_file` output. Every
GoogleTest case in a target's test.xml counts once; a target that failed
without a readable failure in its XML (crash, timeout, sanitizer abort)
counts as one failure; a target that did not build counts as one failure.
--extra names a file of 'passed NAME' / 'failed NAME' lines for checks run
outside Bazel (the fuzzers)."""
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET


def count_target(result):
    status = result.get("status", "NO_STATUS")
    xml = next((o["uri"] for o in result.get("testActionOutput", []) if o["name"] == "test.xml"), None)
    passed = failed = skipped = 0
    if xml:
        try:
            root = ET.parse(urllib.parse.unquote(urllib.parse.urlparse(xml).path)).getroot()
            for case in root.iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                elif case.get("status") == "notrun" or case.get("result") == "skipped" or case.find("skipped") is not None:
                    skipped += 1
                else:
                    passed += 1
        except (OSError, ET.ParseError):
            pass
    if status != "PASSED" and failed == 0:
        failed = 1
    return status, passed, failed, skipped


def main(argv):
    extra = None
    if len(argv) > 1 and argv[1] == "--extra":
        extra, argv = argv[2], argv[2:]
    totals = [0, 0, 0]
    for path in argv[1:]:
        results, unbuilt = {}, set()
        try:
            with open(path) as fh:
                for line in fh:
                    event = json.loads(line)
                    key = event.get("id", {})
                    if "testResult" in key and "testResult" in event:
                        tr = key["testResult"]
                        results[(tr["label"], tr.get("run"), tr.get("shard"))] = event["testResult"]
                    if "targetCompleted" in key and not event.get("completed", {}).get("success", True):
                        unbuilt.add(key["targetCompleted"]["label"])
        except OSError:
            print(f"missing build event file {path}", file=sys.stderr)
            totals[1] += 1
            continue
        for (label, _, _), result in sorted(results.items()):
            status, p, f, s = count_target(result)
            if f:
                print(f"FAILED {path}: {label}: {status}", file=sys.stderr)
            totals = [totals[0] + p, totals[1] + f, totals[2] + s]
        for label in sorted(unbuilt - {k[0] for k in results}):
            print(f"FAILED {path}: {label}: did not build", file=sys.stderr)
            totals[1] += 1
    if extra:
        with open(extra) as fh:
            for line in fh:
                verdict, _, name = line.strip().partition(" ")
                if verdict == "passed":
                    totals[0] += 1
                elif verdict == "failed":
                    totals[1] += 1
                    print(f"FAILED {name}", file=sys.stderr)
    passed, failed, skipped = totals
    if skipped:
        print(f"{skipped} skipped (each with its reason in the test log)")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
