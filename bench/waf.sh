#!/usr/bin/env bash
# bench/waf.sh — Vigil with the OWASP CRS at paranoia level 1 against nginx
# with ModSecurity v3 and the OWASP CRS, on this machine, in one run, in
# front of the same upstream (bench/upstream, ~1 KB JSON answer), for a GET
# and for a 2 KB JSON POST. See bench/README.md and bench/nginx-modsec/.
#
# Targets, loaded in turn with the same wrk settings:
#   nginx-modsec  nginx + libnginx-mod-http-modsecurity + modsecurity-crs
#                 (Debian packages, installed when missing), engine On, PL1
#   vigil-waf     `vigil gateway` with protect.waf {enabled, paranoia_level: 1},
#                 discovery off, events to a file
#
# Environment (all optional):
#   BENCH_DURATION=10s BENCH_CONNS=64 BENCH_THREADS=2 BENCH_WARMUP=2s   wrk settings
#   BENCH_ROUNDS=1       rounds over all targets (interleaved); the table shows medians
#   BENCH_TARGETS="nginx-modsec vigil-waf"
#   BENCH_PROFILE=1      also take a 10 s CPU profile of Vigil under the POST load
#                        (admin pprof), top functions in the results
#   BENCH_VIGIL=/path/to/vigil   use this binary instead of building ./cmd/vigil
#   BENCH_RESULTS=bench/results-waf.md   where the markdown goes
#   BENCH_KEEP=1         keep the temp dir
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-1}
TARGETS=${BENCH_TARGETS:-"nginx-modsec vigil-waf"}
PROFILE=${BENCH_PROFILE:-0}
KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results-waf.md}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-waf.XXXXXX")
chmod 755 "$TMP" # nginx workers run as nobody

BENCH_NAME=bench-waf
READY_TRIES=600 # wait_ready: 60 s at most (the CRS takes a while to load)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh" # log, die, start/stop/cleanup, pick_port, wait_ready
# (this script's own median and ratio, below, take values rather than target names)

# ------------------------------------------------------------------- tools

SUDO=""
[[ $(id -u) == 0 ]] || SUDO=sudo
APT_UPDATED=0
ensure_pkg() { # ensure_pkg DEBIAN_PACKAGE...
	local missing=()
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	((${#missing[@]} == 0)) && return 0
	log "installing Debian packages: ${missing[*]}"
	if ((APT_UPDATED == 0)); then $SUDO apt-get update -qq || die "apt-get update failed"; APT_UPDATED=1; fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
}
ensure_pkg wrk curl
[[ " $TARGETS " != *" nginx-modsec "* ]] || ensure_pkg nginx libnginx-mod-http-modsecurity modsecurity-crs
command -v go >/dev/null || die "go not found"
MODSEC_MODULE=$(ls /usr/lib/nginx/modules/ngx_http_modsecurity_module.so 2>/dev/null || true)

# ------------------------------------------------------------------- build

log "building into $TMP"
(cd "$ROOT" && go build -o "$TMP/upstream" ./bench/upstream) || die "building bench/upstream failed"
VIGIL=${BENCH_VIGIL:-}
if [[ -z $VIGIL ]]; then
	(cd "$ROOT" && go build -o "$TMP/vigil" ./cmd/vigil) || die "building ./cmd/vigil failed"
	VIGIL=$TMP/vigil
fi

# ------------------------------------------------------------------- load

# A 2 KB JSON order, the kind of body an API takes: nested objects, an
# array, prose in a note. Benign: neither WAF may block it.
python3 - "$TMP/body.json" <<'EOF'
import json, sys
items = [{"product_id": 1 + i, "sku": "SCK-%03d" % (i + 1), "quantity": 1 + i % 3, "price_cents": 999 + 250 * i,
          "options": {"size": ["S", "M", "L"][i % 3], "colour": ["navy", "sand", "forest"][i % 3]}} for i in range(8)]
order = {"customer": {"id": 4711, "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+1 555 010 2030"},
         "items": items,
         "shipping_address": {"street": "742 Evergreen Terrace", "city": "Springfield", "zip": "49007", "country": "US"},
         "billing_same_as_shipping": True, "currency": "USD", "coupon": "SPRING24",
         "note": "Please leave the parcel with the neighbour at number 744 if nobody is at home. Thank you very much for the quick service last time, the socks were a great gift."}
s = json.dumps(order)
while len(s) < 2048:
    order["note"] += " Thanks again."
    s = json.dumps(order)
open(sys.argv[1], "w").write(s)
EOF
BODY_BYTES=$(wc -c <"$TMP/body.json")

cat >"$TMP/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d rps=%.1f p50_us=%.0f p99_us=%.0f socket_errors=%d non2xx=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))
end
EOF
{
	printf 'local f = io.open("%s", "rb")\nlocal body = f:read("*a")\nf:close()\n' "$TMP/body.json"
	printf 'wrk.method = "POST"\nwrk.body = body\nwrk.headers["Content-Type"] = "application/json"\n'
	cat "$TMP/report.lua"
} >"$TMP/post.lua"

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() { # user+system ticks of PID and its children
	local total=0 p stat
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		stat=${stat##*) }
		# shellcheck disable=SC2086
		set -- $stat
		total=$((total + ${12} + ${13}))
	done
	echo "$total"
}

declare -A RPS_L=() P50_L=() P99_L=() CPU_L=() ERRS=() NOTE=()
note() { [[ ${NOTE[$1]:-} == *"$2; "* ]] || NOTE[$1]="${NOTE[$1]:-}$2; "; }

run_wrk() { # run_wrk OUT ARGS...: in the background, so a Ctrl-C reaches the trap
	local out=$1 rc=0
	shift
	wrk "$@" >"$out" 2>&1 &
	PID[wrk]=$!
	wait "${PID[wrk]}" || rc=$?
	unset "PID[wrk]"
	return "$rc"
}

load() { # load TARGET KIND URL: KIND get|post; warm-up, measured run
	local name=$1 kind=$2 url=$3 key="$1/$2" script="$TMP/report.lua" out="$TMP/wrk-$1-$2-$ROUND.txt" line t0 ticks
	[[ $kind == post ]] && script="$TMP/post.lua"
	log "round $ROUND/$ROUNDS $name $kind: warm-up $WARMUP, then -t$THREADS -c$CONNS -d$DURATION"
	run_wrk "$out.warm" -t"$THREADS" -c"$CONNS" -d"$WARMUP" --timeout 10s -s "$script" "$url" || true
	t0=$(cpu_ticks "${PID[$name]}")
	run_wrk "$out" -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s --latency -s "$script" "$url" || { note "$name" "wrk failed"; return 1; }
	ticks=$(($(cpu_ticks "${PID[$name]}") - t0))
	line=$(grep '^BENCH ' "$out" | tail -n 1)
	[[ -n $line ]] || { cat "$out" >&2; return 1; }
	local requests=0 rps="" p50_us="" p99_us="" socket_errors=0 non2xx=0 kv
	for kv in ${line#BENCH }; do printf -v "${kv%%=*}" '%s' "${kv#*=}"; done
	((requests == 0)) || CPU_L[$key]+="$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN{printf "%.1f", t*1e6/hz/n}') "
	RPS_L[$key]+="$rps "
	P50_L[$key]+="$p50_us "
	P99_L[$key]+="$p99_us "
	ERRS[$key]=$((${ERRS[$key]:-0} + socket_errors + non2xx))
	((non2xx + socket_errors == 0)) || note "$name" "$kind round $ROUND: $non2xx non-2xx, $socket_errors socket errors"
}

# check NAME URL: the WAF is on the path (an XSS is refused with 403) and the
# benchmark's own requests pass (200).
check() {
	local name=$1 url=$2 code
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/products?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E")
	[[ $code == 403 ]] || { note "$name" "WARNING: an XSS got $code, not 403: is the WAF on?"; log "$name: XSS answered $code"; }
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url/products")
	[[ $code == 200 ]] || note "$name" "WARNING: GET /products answered $code"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$TMP/body.json" "$url/orders")
	[[ $code == 200 ]] || note "$name" "WARNING: the 2 KB JSON POST answered $code"
}

pick_port UP_PORT
UPSTREAM_URL="http://127.0.0.1:$UP_PORT"

run_nginx_modsec() {
	local port dir="$TMP/nginx"
	[[ -n $MODSEC_MODULE ]] || { note nginx-modsec "not run: ngx_http_modsecurity_module.so not found"; return 0; }
	pick_port port
	mkdir -p "$dir"
	chmod 755 "$dir"
	cat >"$dir/nginx.conf" <<EOF
# bench/run.sh's nginx reverse proxy with ModSecurity on.
load_module $MODSEC_MODULE;
daemon off;
master_process on;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_buffer_size 64k;
    client_body_temp_path $dir/client_body;
    proxy_temp_path       $dir/proxy;
    fastcgi_temp_path     $dir/fastcgi;
    uwsgi_temp_path       $dir/uwsgi;
    scgi_temp_path        $dir/scgi;
    modsecurity on;
    modsecurity_rules_file $ROOT/bench/nginx-modsec/modsecurity.conf;
    upstream bench_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive $CONNS;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
	start nginx-modsec nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
	wait_ready nginx-modsec "http://127.0.0.1:$port/" || { note nginx-modsec "did not start"; return 1; }
	check nginx-modsec "http://127.0.0.1:$port"
	load nginx-modsec get "http://127.0.0.1:$port/products"
	load nginx-modsec post "http://127.0.0.1:$port/orders"
	stop nginx-modsec
}

PROFILE_TOP=""
run_vigil_waf() {
	local port admin data
	data=$(mktemp -d "$TMP/vigil-data.XXXX")
	pick_port port
	pick_port admin
	cat >"$TMP/vigil.yaml" <<EOF
mode: enforce
listen:
  http: 127.0.0.1:$port
admin: {addr: 127.0.0.1:$admin, pprof: true}
data_dir: $data
routes:
  - name: bench
    match: {host: "*", path_prefix: /}
    upstream: $UPSTREAM_URL
events:
  file: $data/events.jsonl
discovery: {enabled: false}
protect:
  waf:
    enabled: true
    paranoia_level: 1
    inbound_anomaly_threshold: 5
EOF
	start vigil-waf "$VIGIL" gateway --config "$TMP/vigil.yaml"
	wait_ready vigil-waf "http://127.0.0.1:$admin/readyz" || { note vigil-waf "did not start"; return 1; }
	wait_ready vigil-waf "http://127.0.0.1:$port/" || return 1
	check vigil-waf "http://127.0.0.1:$port"
	load vigil-waf get "http://127.0.0.1:$port/products"
	if [[ $PROFILE == 1 && $ROUND == 1 ]]; then
		curl -s -o "$TMP/vigil-post.pprof" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=10" &
		local prof=$!
		load vigil-waf post "http://127.0.0.1:$port/orders"
		wait "$prof" || true
		PROFILE_TOP=$(go tool pprof -top -nodecount=25 "$VIGIL" "$TMP/vigil-post.pprof" 2>/dev/null | sed -n '1,32p' || true)
	else
		load vigil-waf post "http://127.0.0.1:$port/orders"
	fi
	stop vigil-waf
}

start upstream "$TMP/upstream" -addr "127.0.0.1:$UP_PORT"
wait_ready upstream "$UPSTREAM_URL/" || die "upstream did not start"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	for t in $TARGETS; do
		case $t in
		nginx-modsec | vigil-waf) "run_${t//-/_}" || { note "$t" "round $ROUND failed"; stop "$t"; } ;;
		*) die "unknown target $t" ;;
		esac
	done
done

# ------------------------------------------------------------------ report

median() {
	(($# > 0)) || return 0
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}
ms() { [[ -n ${1:-} ]] && awk -v us="$1" 'BEGIN{printf "%.2f", us/1000}' || printf 'n/a'; }
ratio() { [[ -n ${1:-} && -n ${2:-} ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "n/a" }' || printf 'n/a'; }
declare -A RPS=() P50=() P99=() CPUS=()
TABLE="| target | load | requests/s | p50 ms | p99 ms | CPU µs/req | errors |
|---|---|---:|---:|---:|---:|---|"
for kind in get post; do
	for t in $TARGETS; do
		k="$t/$kind"
		# shellcheck disable=SC2086
		RPS[$k]=$(median ${RPS_L[$k]:-})
		# shellcheck disable=SC2086
		P50[$k]=$(median ${P50_L[$k]:-})
		# shellcheck disable=SC2086
		P99[$k]=$(median ${P99_L[$k]:-})
		# shellcheck disable=SC2086
		CPUS[$k]=$(median ${CPU_L[$k]:-})
		rps_i=n/a
		[[ -n ${RPS[$k]} ]] && rps_i=$(printf '%.0f' "${RPS[$k]}")
		TABLE+="
| $t | $kind | $rps_i | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | ${CPUS[$k]:-n/a} | ${ERRS[$k]:-n/a} |"
	done
done
verdict() { [[ $1 != n/a ]] || return 0; awk -v v="$1" 'BEGIN{ printf "%s", v >= 1.0 ? "met" : "missed" }'; }
R_GET=$(ratio "${RPS[vigil-waf/get]:-}" "${RPS[nginx-modsec/get]:-}")
R_POST=$(ratio "${RPS[vigil-waf/post]:-}" "${RPS[nginx-modsec/post]:-}")
RATIOS="| ratio Vigil / nginx+ModSecurity | GET | 2 KB JSON POST | target |
|---|---:|---:|---|
| requests/s | $R_GET ($(verdict "$R_GET")) | $R_POST ($(verdict "$R_POST")) | ≥ 1.00 |
| p99 latency | $(ratio "${P99[vigil-waf/get]:-}" "${P99[nginx-modsec/get]:-}") | $(ratio "${P99[vigil-waf/post]:-}" "${P99[nginx-modsec/post]:-}") | lower is better |
| CPU per request | $(ratio "${CPUS[vigil-waf/get]:-}" "${CPUS[nginx-modsec/get]:-}") | $(ratio "${CPUS[vigil-waf/post]:-}" "${CPUS[nginx-modsec/post]:-}") | lower is better |"
NOTES=""
for t in $TARGETS; do [[ -z ${NOTE[$t]:-} ]] || NOTES+="- $t: ${NOTE[$t]%; }"$'\n'; done
printf '\n%s\n\n%s\n%s' "$TABLE" "$RATIOS" "$NOTES"

CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
NGINX_V=$( (nginx -v 2>&1 || true) | sed 's/^nginx version: nginx\///')
MODSEC_V=$(dpkg-query -W -f='${Version}' libmodsecurity3 2>/dev/null || echo n/a)
CRS_V=$(dpkg-query -W -f='${Version}' modsecurity-crs 2>/dev/null || echo n/a)
VIGIL_CRS=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/corazawaf/coraza-coreruleset/v4 2>/dev/null || echo n/a)
CORAZA_V=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/corazawaf/coraza/v3 2>/dev/null || echo n/a)
PROFILE_MD=""
if [[ -n $PROFILE_TOP ]]; then
	PROFILE_MD=$'\n## Vigil CPU profile under the POST load (10 s, admin pprof)\n\n```\n'"$PROFILE_TOP"$'\n```\n'
fi
cat >"$RESULTS" <<EOF
# WAF benchmark results

Written by \`bench/waf.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC'); overwritten by every run.

- machine: $(nproc) CPUs ($CPU), $(uname -sr), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end
- software: $(go version | awk '{print $3}'), Vigil commit $COMMIT (Coraza $CORAZA_V, CRS $VIGIL_CRS via coraza-coreruleset), nginx $NGINX_V with libmodsecurity3 $MODSEC_V and modsecurity-crs $CRS_V (Debian)
- WAFs: both at paranoia level 1, inbound anomaly threshold 5 (Vigil: its defaults, @rx on RE2, free_text: score, which changes scores only, not the rules run), request bodies inspected (JSON parsed), response bodies not
- load: $ROUNDS round(s) of \`wrk -t$THREADS -c$CONNS -d$DURATION --timeout 10s --latency\` per target and load, each after a $WARMUP warm-up, on loopback, in front of bench/upstream (~1 KB JSON answer); GET /products, and POST /orders with a $BODY_BYTES-byte JSON order; wrk and the target share the CPUs

$TABLE

$RATIOS

${NOTES:+Notes:

$NOTES}
errors = non-2xx answers + socket errors in the measured run (both WAFs must let every benchmark request through).
CPU µs/req = user+system CPU time of the target's processes (nginx: master and workers) during the measured run / its requests.
The rule sets are not the same: Debian's modsecurity-crs is CRS 3.3, Vigil embeds CRS 4; on a shared machine prefer \`BENCH_ROUNDS=3\`.
$PROFILE_MD
EOF
log "wrote $RESULTS"
