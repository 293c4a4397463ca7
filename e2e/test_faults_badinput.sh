#!/usr/bin/env bash
# Bad input (issue 13 items 19-22) while the scheduler runs: keys that
# cannot be ids, a NUL byte in a key, numbers beyond int64, garbage in
# P/meta.  The scheduler keeps running, the valid request beside the bad
# ones is untouched, every valid request submitted after the garbage is
# placed, a huge number is rejected naming its field, and every request
# key ends with a status (the checker).
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_etcd_start
faults_fleet 2
E put "$P/requests/nulvictim" "$(spec 1 1024)" >/dev/null
wait_for 30 "nulvictim running" phase_is nulvictim running
long64=$(printf 'a%.0s' $(seq 64)) long1000=$(printf 'b%.0s' $(seq 1000))
for k in a/b "$long64" "$long1000" /double; do
	E put "$P/requests/$k" "$(spec 1 1024)" >/dev/null
done
put_raw "$P/requests/bad\\xffutf8" "$(spec 1 1024)"
put_raw "$P/requests/nulvictim\\x00x" "$(spec 1 1024)"
E put "$P/requests/huge-vcpu" "$(spec 9223372036854775808 1024)" >/dev/null
E put "$P/requests/inf-vcpu" "$(spec 1e400 1024)" >/dev/null
E put "$P/requests/huge-prio" "$(spec 1 1024 '"scheduling":{"priority":18446744073709551616}')" >/dev/null
E put "$P/meta" 'garbage{' >/dev/null
# A controller's next session reads P/meta: kill -9 one and start it again.
kill9 "${CTRL_PID[c3]}"
e2e_ctrl c3
e2e_burst v 1 50
wait_for 60 "50 valid requests running after the garbage" running_under v- 50
ok "50 valid requests placed after the garbage"
# Each item is checked and noted; the test fails at the end with all.
bad=()
for c in c1 c2 c3; do
	alive "${CTRL_PID[$c]}" || bad+=("item 22: controller $c exited after garbage in P/meta: $(grep -i meta "$E2E_TMP/ctrl-$c.log" | tail -1)")
done
phase_is nulvictim running ||
	bad+=("item 20: nulvictim no longer running: $(E get --print-value-only "$P/status/nulvictim")")
for r in huge-vcpu:vcpu inf-vcpu:vcpu huge-prio:priority; do
	id=${r%:*} f=${r#*:}
	wait_for 20 "$id rejected" phase_is "$id" rejected
	reason=$(field "$P/status/$id" reason)
	[[ $reason == *"$f"* ]] || bad+=("item 21: $id: the reason does not name $f: $reason")
done
if ! (e2e_check 10); then bad+=("item 19: the checker fails (above)"); fi
[ ${#bad[@]} -eq 0 ] || { printf '  %s\n' "${bad[@]}" >&2; fail "${#bad[@]} defect(s)"; }
ok "controllers kept running, nulvictim untouched, huge numbers rejected naming their field, every request key has a status"
