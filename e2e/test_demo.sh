#!/usr/bin/env bash
# make demo, as a test (issue 14): the cluster of demo/demo.sh comes up,
# places its dozen requests, and restarting every agent (SIGTERM, start
# again) changes no placement: the demo checks it (assignments, statuses'
# hosts and attempts, VM records) and exits 1 otherwise.
# shellcheck source=e2e/lib.sh
. "$(dirname "$0")/lib.sh"

out=$E2E_TMP/demo.log
B=$B ./demo/demo.sh >"$out" 2>&1 || { tail -40 "$out"; fail "demo/demo.sh failed"; }
grep -q '^unchanged after restarting 2 agent(s): 10 assignment(s), 12 status(es)' "$out" ||
	{ tail -40 "$out"; fail "the demo did not check that the agents' restart changed nothing"; }
ok "$(grep '^unchanged after restarting' "$out")"
