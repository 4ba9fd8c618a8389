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

BENCH_NAME=bench-identity
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

need wrk curl

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

wrk_lua "$TMP/req.lua" "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\"
wrk.headers[\"Accept\"] = \"application/json\""

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

measure vigil-off vigil-on
ratio=$(ratio vigil-on vigil-off)
{
	echo "# Identity and policies: on vs off"
	echo
	echo "\`bench/identity.sh\`, commit $COMMIT, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start $LOAD_START;"
	echo "wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds (medians), GET /users/user-17 with an ES256 bearer token."
	echo
	table vigil-off vigil-on
	echo
	echo "**on / off = $ratio** (target ≥ 0.85)."
} | tee "$RESULTS"
