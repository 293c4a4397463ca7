#!/usr/bin/env bash
# Runs every e2e/test_*.sh (each starts its own etcd, controllers and
# agents on loopback) and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
export B=${B:-build}
passed=0 failed=0 names=()
for t in e2e/test_*.sh; do
	[ -e "$t" ] || continue
	echo "== $(basename "$t")"
	s=$SECONDS
	if timeout "${E2E_TIMEOUT:-300}" bash "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); names+=("$(basename "$t")")
	fi
	echo "== $(basename "$t"): $((SECONDS - s)) s"
done
[ ${#names[@]} -gt 0 ] && echo "failing: ${names[*]}"
echo "$passed passed, $failed failed"
[ -n "${SUMMARY_FILE:-}" ] && echo "$passed $failed" > "$SUMMARY_FILE"
[ "$failed" -eq 0 ]
