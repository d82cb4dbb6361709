#!/bin/sh
echo "coverage_report_generator: not available offline; read bazel-testlogs/*/coverage.dat instead" >&2
exit 1
