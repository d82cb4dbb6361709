"""The suite's summary on recorded Build Event Protocol streams
(tools/testdata/bep/): a run that did not run cannot be reported green."""
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "bazel_test_summary.py")
BEP = os.path.join(HERE, "testdata", "bep")


def summarize(*args):
    run = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)
    last = run.stdout.strip().splitlines()[-1]
    return run.returncode, last, run.stdout, run.stderr


def recorded(name, exit_code="0", pass_name="plain"):
    return f"{pass_name}:{exit_code}:{os.path.join(BEP, name + '.json')}"


class RecordedStreams(unittest.TestCase):
    def test_green_run_is_green(self):
        rc, last, _, _ = summarize(recorded("green"))
        self.assertEqual(last, "1 passed, 0 failed")
        self.assertEqual(rc, 0)

    def test_failed_unbuilt_and_analysis_aborted_targets_all_count(self):
        rc, last, _, err = summarize(recorded("mixed", "1"))
        self.assertEqual(last, "1 passed, 4 failed")
        self.assertIn("//:bad_test", err)
        self.assertIn("//:broken: did not build", err)
        self.assertIn("//:unbuilt_test: did not build", err)
        self.assertIn("//:analysis_test: aborted (ANALYSIS_FAILURE", err)
        self.assertNotEqual(rc, 0)

    def test_run_aborted_before_any_test_is_a_failure(self):
        rc, last, _, err = summarize(recorded("analysis-aborted", "1"))
        self.assertNotEqual(rc, 0)
        self.assertRegex(last, r"^0 passed, [1-9][0-9]* failed$")
        self.assertIn("aborted", err)

    def test_server_that_died_mid_run_is_a_failure(self):
        rc, last, _, err = summarize(recorded("server-died", "37"))
        self.assertEqual(last, "1 passed, 1 failed")
        self.assertIn("stop before the build finished", err)
        self.assertNotEqual(rc, 0)

    def test_nonzero_exit_with_a_clean_stream_is_a_failure(self):
        rc, last, _, err = summarize(recorded("green", "3"))
        self.assertEqual(last, "1 passed, 1 failed")
        self.assertIn("bazel exited 3", err)
        self.assertNotEqual(rc, 0)

    def test_missing_pass_is_a_failure(self):
        rc, last, _, err = summarize(recorded("green"), "asan:-:/nonexistent/bep-asan.json")
        self.assertEqual(last, "1 passed, 1 failed")
        self.assertIn("pass asan", err)
        self.assertNotEqual(rc, 0)

    def test_no_pass_at_all_is_a_failure(self):
        rc, last, _, _ = summarize()
        self.assertEqual(last, "0 passed, 1 failed")
        self.assertNotEqual(rc, 0)

    def test_passes_add_up(self):
        rc, last, _, _ = summarize(recorded("green"), recorded("green", pass_name="asan"))
        self.assertEqual(last, "2 passed, 0 failed")
        self.assertEqual(rc, 0)

    def test_extra_checks_count(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as extra:
            extra.write("passed pmi1_fuzz\nfailed elf_fuzz\n")
        try:
            rc, last, _, err = summarize("--extra", extra.name, recorded("green"))
        finally:
            os.unlink(extra.name)
        self.assertEqual(last, "2 passed, 1 failed")
        self.assertIn("elf_fuzz", err)
        self.assertNotEqual(rc, 0)


class SkippedCases(unittest.TestCase):
    """green.json with its test.xml swapped for a GoogleTest report."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        xml = os.path.join(self.dir.name, "test.xml")
        with open(xml, "w") as fh:
            fh.write('<?xml version="1.0"?><testsuites><testsuite name="S">'
                     '<testcase name="Runs" classname="S" status="run" result="completed"/>'
                     '<testcase name="NeedsSlurm" classname="S" status="run" result="skipped">'
                     '<skipped message="no private Slurm here"/></testcase>'
                     '<testcase name="StaticOnly" classname="S" status="run" result="skipped">'
                     '<skipped message="[not applicable] sanitizer build is dynamic"/></testcase>'
                     '</testsuite></testsuites>')
        self.bep = os.path.join(self.dir.name, "bep.json")
        with open(os.path.join(BEP, "green.json")) as src, open(self.bep, "w") as dst:
            for line in src:
                event = json.loads(line)
                for output in event.get("testResult", {}).get("testActionOutput", []):
                    if output["name"] == "test.xml":
                        output["uri"] = "file://" + xml
                dst.write(json.dumps(event) + "\n")

    def tearDown(self):
        self.dir.cleanup()

    def test_skips_are_reported_outside_ci(self):
        rc, last, out, _ = summarize(f"plain:0:{self.bep}")
        self.assertEqual(last, "1 passed, 0 failed")
        self.assertIn("2 skipped", out)
        self.assertEqual(rc, 0)

    def test_under_ci_a_skip_for_a_missing_peer_fails(self):
        rc, last, out, err = summarize("--skips-fail", f"plain:0:{self.bep}")
        self.assertEqual(last, "1 passed, 1 failed")
        self.assertIn("no private Slurm here", err)
        self.assertIn("1 skipped", out)  # the not-applicable one
        self.assertNotEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
