#!/usr/bin/env python3
"""Prints 'N passed, N failed' for a test-suite run, as its last line (CI
reads it); skipped test cases, if any, are counted on the line before.

Usage: bazel_test_summary.py [--extra FILE] [--skips-fail] PASS [PASS ...]

PASS is NAME:EXIT:BEP_FILE for one `bazel test --build_event_json_file=BEP_FILE`
run whose exit status was EXIT ('-' if it never ran). The summary cannot be
green unless every pass ran to its end:

- every GoogleTest case in a target's test.xml counts once; a target whose
  XML cannot be read counts once, as its status says; a failed target
  without a readable failure (crash, timeout, sanitizer abort) is one failure;
- a target that did not build, or was aborted (analysis failure, interrupted
  build), is one failure; so is an aborted event naming no target;
- a stream that is missing, unreadable, or ends before Bazel's buildFinished
  event (the server died) is one failure;
- a non-zero exit status that the stream does not already explain with a
  failure is one failure (exit 3 'tests failed' with none found, 4 'no tests',
  37 'server died', ...).

--skips-fail (CI sets it): a skipped test case is a failure, because under CI
every peer and tool must be installed; a skip whose message says
'[not applicable]' (a check that cannot exist in this build) stays a skip.
--extra names a file of 'passed NAME' / 'failed NAME' lines for checks run
outside Bazel (the fuzzers)."""
import argparse
import json
import sys
import urllib.parse
import xml.etree.ElementTree as ET

NOT_APPLICABLE = "[not applicable]"


class Tally:
    def __init__(self, skips_fail):
        self.passed = self.failed = self.skipped = 0
        self.skips_fail = skips_fail

    def fail(self, why):
        print(f"FAILED {why}", file=sys.stderr)
        self.failed += 1


def skip_message(case):
    node = case.find("skipped")
    if node is None:
        return ""
    return (node.get("message") or "") + (node.text or "")


def count_xml(path, label, tally):
    """Counts the cases of one test.xml; returns (cases, failures) or None."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    cases = failures = 0
    for case in root.iter("testcase"):
        cases += 1
        name = f"{label}: {case.get('classname', '')}.{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failures += 1
            tally.fail(name)
        elif (case.get("status") == "notrun" or case.get("result") == "skipped"
              or case.find("skipped") is not None):
            message = skip_message(case)
            if tally.skips_fail and NOT_APPLICABLE not in message:
                failures += 1
                tally.fail(f"{name}: skipped under CI: {message.strip()[:200]}")
            else:
                tally.skipped += 1
        else:
            tally.passed += 1
    return cases, failures


def count_target(label, result, tally):
    """Counts one testResult event; returns the failures it added."""
    status = result.get("status", "NO_STATUS")
    xml = next((o["uri"] for o in result.get("testActionOutput", [])
                if o.get("name") == "test.xml"), None)
    counted = None
    if xml:
        counted = count_xml(urllib.parse.unquote(urllib.parse.urlparse(xml).path), label, tally)
    if counted is None or counted[0] == 0:
        if status == "PASSED":
            tally.passed += 1
            return 0
        tally.fail(f"{label}: {status}")
        return 1
    if status != "PASSED" and counted[1] == 0:
        tally.fail(f"{label}: {status} (no failing case in its XML: crash, timeout or abort)")
        return 1
    return counted[1]


def read_events(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def count_pass(name, exit_code, path, tally):
    before = tally.failed
    try:
        events = read_events(path)
    except (OSError, ValueError) as error:
        tally.fail(f"pass {name}: no readable build events in {path} ({error})")
        return
    results, built, unbuilt, aborted, other_aborts = {}, set(), {}, {}, []
    finished = False
    for event in events:
        key = event.get("id", {})
        kind = next(iter(key), "")
        label = key.get(kind, {}).get("label", "") if isinstance(key.get(kind), dict) else ""
        if "aborted" in event:
            reason = event["aborted"].get("reason", "UNKNOWN")
            if reason == "SKIPPED":
                continue  # filtered out on purpose (tags, --build_tests_only)
            description = event["aborted"].get("description", "")
            if kind in ("targetCompleted", "testResult", "testSummary") and label:
                aborted.setdefault(label, f"{reason} {description}".strip())
            else:
                other_aborts.append(f"{kind} {label} {reason} {description}".strip())
        if kind == "testResult" and "testResult" in event:
            tr = key["testResult"]
            results[(tr["label"], tr.get("run"), tr.get("shard"))] = event["testResult"]
        if kind == "targetCompleted" and "completed" in event:
            if event["completed"].get("success", False):
                built.add(label)
            else:
                detail = event["completed"].get("failureDetail", {}).get("message", "")
                unbuilt[label] = detail.strip().split("\n")[0]
        if kind == "buildFinished":
            finished = True
    for (label, _, _), result in sorted(results.items()):
        count_target(f"{name}: {label}", result, tally)
    tested = {label for label, _, _ in results}
    for label in sorted(set(unbuilt) - tested):
        tally.fail(f"{name}: {label}: did not build {unbuilt[label][:200]}".rstrip())
    for label in sorted(set(aborted) - tested - set(unbuilt)):
        tally.fail(f"{name}: {label}: aborted ({aborted[label][:200]})")
    if other_aborts and tally.failed == before:
        tally.fail(f"pass {name}: build aborted: {other_aborts[0][:200]}")
    if not finished:
        tally.fail(f"pass {name}: the build events stop before the build finished "
                   f"(Bazel server died or was killed?)")
    if exit_code != "0" and tally.failed == before:
        tally.fail(f"pass {name}: bazel exited {exit_code} with no failure in its events")


def main(argv):
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("--extra")
    parser.add_argument("--skips-fail", action="store_true")
    parser.add_argument("passes", nargs="*", metavar="NAME:EXIT:BEP")
    args = parser.parse_args(argv[1:])
    tally = Tally(args.skips_fail)
    if not args.passes:
        tally.fail("no test pass ran")
    for spec in args.passes:
        name, sep1, rest = spec.partition(":")
        exit_code, sep2, path = rest.partition(":")
        if not (sep1 and sep2 and name and exit_code and path):
            tally.fail(f"bad pass '{spec}' (expected NAME:EXIT:BEP_FILE)")
            continue
        count_pass(name, exit_code, path, tally)
    if args.extra:
        try:
            with open(args.extra) as fh:
                for line in fh:
                    verdict, _, name = line.strip().partition(" ")
                    if verdict == "passed":
                        tally.passed += 1
                    elif verdict == "failed":
                        tally.fail(name)
        except OSError as error:
            tally.fail(f"extra checks: {error}")
    if tally.skipped:
        print(f"{tally.skipped} skipped (each with its reason in the test log)")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 0 if tally.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
