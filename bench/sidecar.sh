#!/usr/bin/env bash
# bench/sidecar.sh — a sidecar pair with mutual TLS against the same pair
# in plaintext, in one run, in front of the same upstream (bench/upstream):
#   plain  client → sidecar A (http) → http  → sidecar B (http)  → upstream
#   mtls   client → sidecar A (http) → mTLS → sidecar B (https, modern,
#          X25519MLKEM768, SVIDs from a Vigil CA, connection rule) → upstream
# wrk keeps its connections alive, and so does sidecar A towards B, so the
# steady state is measured (handshakes are measured by the Go benchmark
# BenchmarkHandshake in internal/tlsconf). Then testssl.sh (Debian
# package), when installed or installable, against sidecar B's listener.
#
# Environment: BENCH_DURATION=10s BENCH_CONNS=64 BENCH_THREADS=2
# BENCH_WARMUP=2s BENCH_ROUNDS=3 BENCH_KEEP=1 BENCH_TESTSSL=0 (skip it)
# BENCH_RESULTS=bench/results-sidecar.md
set -euo pipefail
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
KEEP=${BENCH_KEEP:-0}
BENCH_NAME=bench-sidecar
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results-sidecar.md}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-sidecar.XXXXXX")
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need wrk curl

log "building into $TMP"
(cd "$ROOT" && go build -o "$TMP/upstream" ./bench/upstream && go build -o "$TMP/vigil" ./cmd/vigil) || die "build failed"
VIGIL=$TMP/vigil
"$VIGIL" ca init --dir "$TMP/ca" --trust-domain bench.local >/dev/null || die "vigil ca init failed"

pick_port UP
start upstream "$TMP/upstream" -addr "127.0.0.1:$UP"
wait_ready upstream "http://127.0.0.1:$UP/products" || die "upstream did not start"

common() { # common NAME
	printf 'mode: enforce\ndata_dir: %s\nevents: {file: %s}\ndiscovery: {enabled: false}\n' "$TMP/$1-data" "$TMP/$1-events.jsonl"
}
pick_port PB; pick_port PA; pick_port MB; pick_port MA
{ common plain-b; cat <<YAML
listen: {http: 127.0.0.1:$PB}
routes: [{name: app, upstream: "http://127.0.0.1:$UP"}]
YAML
} >"$TMP/plain-b.yaml"
{ common plain-a; cat <<YAML
listen: {http: 127.0.0.1:$PA}
routes: [{name: b, upstream: "http://127.0.0.1:$PB"}]
YAML
} >"$TMP/plain-a.yaml"
{ common mtls-b; cat <<YAML
listen:
  https:
    addr: 127.0.0.1:$MB
    profile: modern
    svid: {ca_dir: $TMP/ca, spiffe_id: spiffe://bench.local/b}
routes: [{name: app, upstream: "http://127.0.0.1:$UP"}]
transport:
  connections:
    default: deny
    rules: [{name: a-to-b, from: [spiffe://bench.local/a], action: allow}]
YAML
} >"$TMP/mtls-b.yaml"
{ common mtls-a; cat <<YAML
listen: {http: 127.0.0.1:$MA}
routes:
  - name: b
    upstream: https://127.0.0.1:$MB
    upstream_tls:
      profile: modern
      svid: {ca_dir: $TMP/ca, spiffe_id: spiffe://bench.local/a}
      spiffe_id: spiffe://bench.local/b
YAML
} >"$TMP/mtls-a.yaml"
for n in plain-b plain-a mtls-b mtls-a; do
	"$VIGIL" validate --config "$TMP/$n.yaml" >/dev/null || { cat "$TMP/$n.yaml" >&2; die "$n does not validate"; }
	start "$n" "$VIGIL" sidecar --config "$TMP/$n.yaml"
done
URL[plain]="http://127.0.0.1:$PA/products"
URL[mtls]="http://127.0.0.1:$MA/products"
for t in plain mtls; do
	wait_ready "$t-a" "${URL[$t]}" || die "$t pair did not start"
	code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[$t]}")
	[[ $code == 200 ]] || die "$t pair answers $code"
done
grep -q '"mtls":true' "$TMP/mtls-b-events.jsonl" 2>/dev/null || sleep 1
grep -q '"group":"X25519MLKEM768"' "$TMP/mtls-b-events.jsonl" || die "sidecar B's events do not show the hybrid group"

wrk_lua "$TMP/req.lua"
measure plain mtls
ratio=$(ratio mtls plain)
p99r=$(awk -v a="$(median "${P99[mtls]}")" -v b="$(median "${P99[plain]}")" 'BEGIN {printf "%.2f", a/b}')

TESTSSL=""
if [[ ${BENCH_TESTSSL:-1} == 1 ]]; then
	command -v testssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null 2>&1; } || log "testssl.sh not installable; skipped"
	if command -v testssl >/dev/null; then
		log "testssl against sidecar B (127.0.0.1:$MB)"
		# The listener requires a client certificate: testssl checks the
		# handshake parameters all the same (it reports the CA request).
		testssl --quiet --color 0 --protocols --std --fs --server-defaults --warnings off "127.0.0.1:$MB" >"$TMP/testssl.txt" 2>&1 || true
		TESTSSL=$(grep -E '^ (SSLv2|SSLv3|TLS 1(\.[0-3])?|NULL|Anonymous|Export|LOW|Triple DES|Obsoleted|Strong|Forward)' "$TMP/testssl.txt" | sed 's/^ /    /' || true)
	fi
fi
{
	echo "# Sidecar pair: mutual TLS vs plaintext"
	echo
	echo "\`bench/sidecar.sh\`, commit $COMMIT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start $LOAD_START;"
	echo "wrk -t$THREADS -c$CONNS -d$DURATION keep-alive, $ROUNDS interleaved rounds (medians), GET /products through A then B."
	echo
	table plain mtls
	echo
	echo "**mtls / plain = $ratio** requests/s, p99 ×$p99r. The hop is TLS 1.3 with X25519MLKEM768 (from sidecar B's events)."
	if [[ -n $TESTSSL ]]; then
		echo
		echo "testssl.sh against sidecar B's listener (profile modern):"
		echo
		echo '```'
		echo "$TESTSSL"
		echo '```'
	fi
} | tee "$RESULTS"
