#!/usr/bin/env bash
# Runs each test binary given, prints its output, and ends with one line
# "N passed, N failed" counting the cmocka tests of all binaries.
set -u
passed=0 failed=0 bins_failed=()
for t in "$@"; do
	[ -x "$t" ] || { echo "missing test binary: $t"; failed=$((failed + 1)); continue; }
	echo "== $(basename "$t")"
	out=$(mktemp)
	# shellcheck disable=SC2086 # VALGRIND is a command line: split it
	timeout "${TEST_TIMEOUT:-600}" ${VALGRIND:-} "$t" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	p=$(grep -Eo '^\[  PASSED  \] [0-9]+' "$out" | awk '{s+=$4} END {print s+0}')
	f=$(grep -Eo '^\[  FAILED  \] [0-9]+' "$out" | awk '{s+=$4} END {print s+0}')
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
	[ "$rc" -ne 0 ] && bins_failed+=("$(basename "$t") (exit $rc)")
	rm -f "$out"
done
[ ${#bins_failed[@]} -gt 0 ] && echo "failing: ${bins_failed[*]}"
echo "$passed passed, $failed failed"
[ -n "${SUMMARY_FILE:-}" ] && echo "$passed $failed" > "$SUMMARY_FILE"
[ "$failed" -eq 0 ]
