#!/usr/bin/env bash
# bench/identity.sh — the gateway with identity and policies on against the
# same gateway with them off, on this machine, in one run, in front of the
# same upstream (bench/upstream, ~1 KB JSON answer). See bench/README.md.
#
# Targets, loaded in turn with the same wrk settings and the same request
# (GET /users/user-17 with an ES256 bearer token from bench/tokengen):
#   vigil-off  `vigil gateway`, no identity section, no policies
#   vigil-on   identity.jwt (JWKS file, audiences, algorithms), the route's
#              identity: required, and the issue's three policies
#              (own-user-record matches this request and is evaluated)
# Both with discovery off and events to a file, so the difference is the
# identity and authz stages alone.
#
# Environment (all optional):
#   BENCH_DURATION=10s BENCH_CONNS=64 BENCH_THREADS=2 BENCH_WARMUP=2s   wrk settings
#   BENCH_ROUNDS=3       rounds over both targets (interleaved); medians
#   BENCH_VIGIL=/path/to/vigil   use this binary instead of building ./cmd/vigil
#   BENCH_RESULTS=bench/results-identity.md   where the markdown goes
#   BENCH_KEEP=1         keep the temp dir
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-3}
KEEP=${BENCH_KEEP:-0}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results-identity.md}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-id.XXXXXX")

log() { printf '[bench-identity] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

declare -A PID=()
stop() {
	local name=$1 pid=${PID[$1]:-}
	[[ -n $pid ]] || return 0
	unset "PID[$name]"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do stop "$name"; done
	if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start() { local name=$1; shift; "$@" >"$TMP/$name.log" 2>&1 & PID[$name]=$!; }

USED_PORTS=" "
pick_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then USED_PORTS+="$p "; printf -v "$1" '%s' "$p"; return 0; fi
	done
	die "no free port found"
}
wait_ready() { # wait_ready NAME URL [HEADER]
	for _ in $(seq 300); do
		kill -0 "${PID[$1]}" 2>/dev/null || { tail -n 20 "$TMP/$1.log" >&2; return 1; }
		curl -s -o /dev/null --max-time 1 ${3:+-H "$3"} "$2" && return 0
		sleep 0.1
	done
	tail -n 20 "$TMP/$1.log" >&2
	return 1
}

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
	SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
	$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk curl >/dev/null || die "could not install wrk curl"
fi

log "building into $TMP"
(cd "$ROOT" && go build -o "$TMP/upstream" ./bench/upstream && go build -o "$TMP/tokengen" ./bench/tokengen) || die "build failed"
VIGIL=${BENCH_VIGIL:-}
if [[ -z $VIGIL ]]; then
	(cd "$ROOT" && go build -o "$TMP/vigil" ./cmd/vigil) || die "building ./cmd/vigil failed"
	VIGIL=$TMP/vigil
fi
TOKEN=$("$TMP/tokengen" -jwks "$TMP/jwks.json" -iss https://id.shop.local -aud shop -sub user-17 -ttl 2h)

pick_port UP
start upstream "$TMP/upstream" -addr "127.0.0.1:$UP"
wait_ready upstream "http://127.0.0.1:$UP/products" || die "upstream did not start"

write_config() { # write_config NAME PORT ADMIN on|off
	local f="$TMP/$1.yaml"
	cat >"$f" <<YAML
mode: enforce
listen: {http: 127.0.0.1:$2}
admin: 127.0.0.1:$3
data_dir: $TMP/$1-data
events: {file: $TMP/$1-events.jsonl}
discovery: {enabled: false}
routes:
  - name: shop
    match: {host: "*", path_prefix: /}
    upstream: http://127.0.0.1:$UP
YAML
	if [[ $4 == on ]]; then
		cat >>"$f" <<YAML
    identity: required
identity:
  jwt:
    - issuer: https://id.shop.local
      jwks_file: $TMP/jwks.json
      audiences: [shop]
      algorithms: [ES256, RS256]
policies:
  - name: own-user-record
    match: {endpoint: "GET /users/{id}"}
    deny_if: 'path.id != token.sub && !("admin" in token.roles)'
  - name: admin-only
    match: {path_prefix: /admin/}
    allow_if: '"admin" in token.roles'
  - name: large-orders
    match: {endpoint: "POST /order/add/{id}"}
    step_up_if: 'body.total > 1000.0 && !("mfa" in token.amr)'
    step_up: {acr_values: "urn:shop:mfa", max_age: 300}
YAML
	fi
}

cat >"$TMP/req.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Accept"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%.0f p99_us=%.0f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

declare -A URL=() RPS=() P50=() P99=() BAD=()
for t in vigil-off vigil-on; do
	pick_port P; pick_port A
	write_config "$t" "$P" "$A" "${t#vigil-}"
	"$VIGIL" validate --config "$TMP/$t.yaml" >/dev/null || { cat "$TMP/$t.yaml" >&2; die "$t config does not validate"; }
	URL[$t]="http://127.0.0.1:$P/users/user-17"
	start "$t" "$VIGIL" gateway --config "$TMP/$t.yaml"
	wait_ready "$t" "${URL[$t]}" "Authorization: Bearer $TOKEN" || die "$t did not start"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "${URL[$t]}")
	[[ $code == 200 ]] || die "$t answers $code to the benchmark request"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[vigil-on]}")
[[ $code == 401 ]] || die "vigil-on answers $code without a token (want 401): identity is not on"

for ROUND in $(seq "$ROUNDS"); do
	for t in vigil-off vigil-on; do
		out="$TMP/wrk-$t-$ROUND.txt"
		log "round $ROUND/$ROUNDS $t: warm-up $WARMUP, then -t$THREADS -c$CONNS -d$DURATION"
		wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$TMP/req.lua" "${URL[$t]}" >/dev/null 2>&1 || true
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/req.lua" "${URL[$t]}" >"$out" 2>&1 || die "wrk failed on $t"
		line=$(grep '^BENCH' "$out")
		RPS[$t]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
		P50[$t]+="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line") "
		P99[$t]+="$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line") "
		BAD[$t]=$((${BAD[$t]:-0} + $(sed -E 's/.*errors=([0-9]+) non2xx=([0-9]+).*/\1+\2/' <<<"$line")))
	done
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
off=$(median "${RPS[vigil-off]}")
on=$(median "${RPS[vigil-on]}")
ratio=$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.2f", a/b}')
{
	echo "# Identity and policies: on vs off"
	echo
	echo "\`bench/identity.sh\`, commit $COMMIT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start $LOAD_START;"
	echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds (medians), GET /users/user-17 with an ES256 bearer token."
	echo
	echo "| target | requests/s | p50 | p99 | errors + non-2xx | rounds (rps) |"
	echo "|---|---:|---:|---:|---:|---|"
	for t in vigil-off vigil-on; do
		printf '| %s | %s | %s µs | %s µs | %s | %s|\n' "$t" "$(median "${RPS[$t]}")" "$(median "${P50[$t]}")" "$(median "${P99[$t]}")" "${BAD[$t]}" "${RPS[$t]}"
	done
	echo
	echo "**on / off = $ratio** (target ≥ 0.85)."
} | tee "$RESULTS"
