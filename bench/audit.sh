#!/usr/bin/env bash
# bench/audit.sh — `vigil up` with the audit log on (the default: every
# stored transaction appended to the Merkle log, checkpoints every 10 s)
# against the same with audit.disabled, in one run, in front of the same
# upstream (bench/upstream). Under vigil up the control plane's appends
# share the CPU with the gateway, which is what this measures.
#
# BENCH_SIGN_HOPS=1 adds a third target, audit-hops: the audit log on and
# audit.sign_hops (the gateway signs each hop's record, batch-signed; the
# control plane checks it).
#
# Environment: BENCH_DURATION=10s BENCH_CONNS=64 BENCH_THREADS=2
# BENCH_WARMUP=2s BENCH_ROUNDS=3 BENCH_KEEP=1 BENCH_SIGN_HOPS=0
# BENCH_RESULTS=bench/results-audit-gateway.md
set -euo pipefail
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
KEEP=${BENCH_KEEP:-0}
TARGETS=(audit-off audit-on)
[[ ${BENCH_SIGN_HOPS:-0} == 1 ]] && TARGETS+=(audit-hops)
BENCH_NAME=bench-audit
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results-audit-gateway.md}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-audit.XXXXXX")
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need wrk curl

log "building into $TMP"
(cd "$ROOT" && go build -o "$TMP/upstream" ./bench/upstream && go build -o "$TMP/vigil" ./cmd/vigil) || die "build failed"
pick_port UP
start upstream "$TMP/upstream" -addr "127.0.0.1:$UP"
wait_ready upstream "http://127.0.0.1:$UP/products" || die "upstream did not start"

declare -A ADMIN=()
for t in "${TARGETS[@]}"; do
	pick_port P; pick_port A
	{
		printf 'mode: enforce\nlisten: {http: 127.0.0.1:%s}\nadmin: 127.0.0.1:%s\ndata_dir: %s\n' "$P" "$A" "$TMP/$t-data"
		printf 'discovery: {enabled: false}\nroutes: [{name: shop, upstream: "http://127.0.0.1:%s"}]\n' "$UP"
		[[ $t == audit-off ]] && printf 'audit: {disabled: true}\n'
		[[ $t == audit-hops ]] && printf 'audit: {sign_hops: true}\n'
	} >"$TMP/$t.yaml"
	URL[$t]="http://127.0.0.1:$P/products"
	ADMIN[$t]="http://127.0.0.1:$A"
	VIGIL_ADMIN_TOKEN=bench start "$t" "$TMP/vigil" up --config "$TMP/$t.yaml"
	wait_ready "$t" "${URL[$t]}" || die "$t did not start"
done

wrk_lua "$TMP/req.lua"
measure "${TARGETS[@]}"
sleep 3 # let the control plane catch up, then show that the log holds the traffic
cp=$(curl -s -H "Authorization: Bearer bench" "${ADMIN[audit-on]}/api/v1/audit/checkpoint" | sed -n 2p)
ratio=$(ratio audit-on audit-off)
{
	echo "# vigil up: audit log on vs off"
	echo
	echo "\`bench/audit.sh\`, commit $COMMIT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start $LOAD_START;"
	echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds (medians), GET /products through vigil up."
	echo
	table "${TARGETS[@]}"
	echo
	echo "**on / off = $ratio** (target ≥ 0.95). Latest checkpoint of audit-on after the run: size $cp."
	if [[ ${BENCH_SIGN_HOPS:-0} == 1 ]]; then echo; echo "hops signed / off = $(ratio audit-hops audit-off)."; fi
} | tee "$RESULTS"
