#!/usr/bin/env bash
# bench/run.sh — measures Vigil's gateway against plain reverse proxies, on
# this machine, in one run. See bench/README.md.
#
# Targets, loaded in turn with the same wrk settings, all in front of the same
# upstream (bench/upstream, a fixed ~1 KB JSON answer):
#   upstream  the upstream directly (the ceiling)
#   httputil  net/http/httputil.ReverseProxy with a tuned transport (bench/httputilproxy)
#   nginx     nginx reverse proxy, upstream keepalive
#   caddy     Caddy reverse_proxy
#   vigil         `vigil gateway`, pipeline on, events written to a file,
#                 discovery on (the default, default sample_rate)
#   vigil-nodisc  the same gateway with `discovery: {enabled: false}`
#
# Environment (all optional):
#   BENCH_DURATION=10s  BENCH_CONNS=64  BENCH_THREADS=2   wrk -d -c -t, the same for every target
#   BENCH_WARMUP=2s      warm-up load before each measured run (discarded)
#   BENCH_ROUNDS=1       rounds over all targets (interleaved); the table shows the median
#   BENCH_TARGETS="upstream httputil nginx caddy vigil vigil-nodisc"   subset / order
#   BENCH_PATH=/products request path
#   BENCH_VIGIL=/path/to/vigil   use this binary instead of building ./cmd/vigil
#   BENCH_RESULTS=bench/results.md   where the markdown table goes
#   BENCH_KEEP=1         keep the temp dir (configs, logs, wrk output, events.jsonl)
#
# Nothing is pinned to CPUs: wrk and the proxy under test share the machine's
# cores, the same way for every target.
set -euo pipefail

DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2s}
ROUNDS=${BENCH_ROUNDS:-1}
TARGETS=${BENCH_TARGETS:-"upstream httputil nginx caddy vigil vigil-nodisc"}
REQ_PATH=${BENCH_PATH:-/products}
KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results.md}
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_ROUNDS must be a positive integer" >&2; exit 2; }
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# The commit being built, taken before the build: others may commit meanwhile.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench.XXXXXX")
# nginx started as root runs its workers as "nobody": they must reach TMP.
chmod 755 "$TMP"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes

declare -A PID=() # target name -> pid of the process we started

stop() { # stop NAME: TERM, wait up to 5 s, then KILL
	local name=$1 pid=${PID[$1]:-}
	[[ -n $pid ]] || return 0
	unset "PID[$name]"
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) did not stop on TERM; killing"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for name in "${!PID[@]}"; do stop "$name"; done
	if [[ $KEEP == 1 ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # start NAME CMD...: runs CMD in the background, output in TMP/NAME.log
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PID[$name]=$!
}

# ------------------------------------------------------------------- ports

USED_PORTS=" "
pick_port() { # pick_port VAR: a free loopback port not handed out before
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+="$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

REASON="" # why the last step failed, for the notes column

fail() { # fail NAME WHY: records WHY, shows the tail of NAME's log, returns 1
	REASON=$2
	log "$1: $2; its log:"
	tail -n 20 "$TMP/$1.log" >&2 || true
	return 1
}

wait_ready() { # wait_ready NAME URL [ok]: until URL answers (with 2xx if "ok"), 30 s at most
	local name=$1 url=$2 curl_opts=(-s -o /dev/null --max-time 1)
	[[ ${3:-} != ok ]] || curl_opts+=(-f)
	for _ in $(seq 300); do
		kill -0 "${PID[$name]}" 2>/dev/null || { fail "$name" "exited during start-up"; return 1; }
		if curl "${curl_opts[@]}" "$url"; then return 0; fi
		sleep 0.1
	done
	fail "$name" "not ready at $url after 30 s"
}

# ------------------------------------------------------------------- tools

ensure_cmd() { # ensure_cmd CMD DEBIAN_PACKAGE
	command -v "$1" >/dev/null && return 0
	log "$1 missing; installing Debian package $2"
	local sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null; }; then
		die "could not install $2"
	fi
}

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

ensure_cmd wrk wrk
ensure_cmd curl curl
command -v go >/dev/null || die "go not found (looked in PATH and /usr/local/go/bin)"
if wants nginx; then ensure_cmd nginx nginx; fi
if wants caddy; then ensure_cmd caddy caddy; fi
# `caddy` from Debian starts a system service on install; we run our own.

# ------------------------------------------------------------------- build

log "building into $TMP"
(cd "$ROOT" && go build -o "$TMP/upstream" ./bench/upstream && go build -o "$TMP/httputilproxy" ./bench/httputilproxy) ||
	die "building the baselines failed"

VIGIL=""
VIGIL_NOTE=""
if wants vigil || wants vigil-nodisc; then
	if [[ -n ${BENCH_VIGIL:-} ]]; then
		VIGIL=$BENCH_VIGIL
	elif (cd "$ROOT" && go build -o "$TMP/vigil" ./cmd/vigil) >"$TMP/vigil-build.log" 2>&1; then
		VIGIL=$TMP/vigil
	else
		VIGIL_NOTE="go build ./cmd/vigil failed"
		log "vigil: $VIGIL_NOTE; skipping it:"
		tail -n 10 "$TMP/vigil-build.log" >&2 || true
	fi
fi

# ------------------------------------------------------------------- wrk

cat >"$TMP/report.lua" <<'EOF'
-- Prints one machine-readable line after wrk's own report.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f socket_errors=%d non2xx=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
EOF

# Per target: space-separated values, one per round; ERRS and SENT are sums.
declare -A RPS_L=() P50_L=() P99_L=() CPU_L=() ERRS=() SENT=() NOTE=()

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
cpu_ticks() { # cpu_ticks PID: user+system clock ticks of PID and its children (nginx workers)
	local pid=$1 total=0 p stat
	for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		stat=${stat##*) } # fields after the command name, which may hold spaces
		# shellcheck disable=SC2086
		set -- $stat
		total=$((total + ${12} + ${13})) # utime, stime (fields 14 and 15 of stat)
	done
	echo "$total"
}

note() { # note TARGET TEXT: adds TEXT to the target's notes once
	[[ ${NOTE[$1]:-} == *"$2; "* ]] || NOTE[$1]="${NOTE[$1]:-}$2; "
}

result() { # result OUTFILE: prints the BENCH line of a wrk run
	grep '^BENCH ' "$1" | tail -n 1
}

run_wrk() { # run_wrk OUT WRK-ARGS...
	# wrk runs in the background and we `wait` for it: wrk catches SIGINT
	# itself, and bash would not act on a Ctrl-C that its foreground child
	# handled; `wait` is interrupted by the trap instead, which stops wrk too.
	local out=$1 rc=0
	shift
	wrk "$@" >"$out" 2>&1 &
	PID[wrk]=$!
	wait "${PID[wrk]}" || rc=$?
	unset "PID[wrk]"
	return "$rc"
}

load() { # load NAME URL: warm-up, then the measured run; appends to RPS_L/P50_L/P99_L
	local name=$1 url=$2 out="$TMP/wrk-$1-round$ROUND.txt" warm="$TMP/wrk-$1-round$ROUND-warmup.txt" line
	log "round $ROUND/$ROUNDS $name: warm-up $WARMUP, then -t$THREADS -c$CONNS -d$DURATION $url"
	run_wrk "$warm" -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$TMP/report.lua" "$url" || true
	local pid=${PID[$name]:-} t0=""
	[[ -z $pid ]] || t0=$(cpu_ticks "$pid")
	if ! run_wrk "$out" -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/report.lua" "$url"; then
		REASON="wrk failed: $(head -c 200 "$out" | tr '\n' ' ')"
		log "$name: $REASON"
		return 1
	fi
	local ticks=""
	[[ -z $t0 ]] || ticks=$(($(cpu_ticks "$pid") - t0))
	line=$(result "$out")
	[[ -n $line ]] || { REASON="no result line from wrk"; log "$name: $REASON"; cat "$out" >&2; return 1; }
	# shellcheck disable=SC2034 # all set by the printf -v loop below
	local requests=0 rps="" p50_us="" p90_us="" p99_us="" max_us="" socket_errors=0 non2xx=0 kv
	for kv in ${line#BENCH }; do printf -v "${kv%%=*}" '%s' "${kv#*=}"; done
	local measured=$requests
	# CPU time the target spent per request, in µs: steadier than requests/s
	# on a shared machine, where wrk and neighbours take the CPUs unevenly.
	[[ -z $ticks ]] || ((measured == 0)) ||
		CPU_L[$name]+="$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$measured" 'BEGIN{printf "%.1f", t*1e6/hz/n}') "
	line=$(result "$warm")
	requests=0
	[[ -z $line ]] || for kv in ${line#BENCH }; do [[ $kv != requests=* ]] || requests=${kv#*=}; done
	SENT[$name]=$((${SENT[$name]:-0} + measured + requests))
	RPS_L[$name]+="$rps "
	P50_L[$name]+="$p50_us "
	P99_L[$name]+="$p99_us "
	ERRS[$name]=$((${ERRS[$name]:-0} + socket_errors + non2xx))
	if ((non2xx + socket_errors > 0)); then
		note "$name" "round $ROUND: $non2xx non-2xx, $socket_errors socket errors of $measured requests"
		log "$name: WARNING $non2xx non-2xx responses and $socket_errors socket errors"
	fi
}

# ----------------------------------------------------------------- targets

pick_port UP_PORT
UPSTREAM_URL="http://127.0.0.1:$UP_PORT"

run_upstream() {
	load upstream "$UPSTREAM_URL$REQ_PATH"
}

run_httputil() {
	local port
	pick_port port
	start httputil "$TMP/httputilproxy" -addr "127.0.0.1:$port" -upstream "$UPSTREAM_URL" -max-idle-per-host "$((CONNS * 2))"
	wait_ready httputil "http://127.0.0.1:$port/" || return 1
	load httputil "http://127.0.0.1:$port$REQ_PATH"
}

run_nginx() {
	local port dir="$TMP/nginx"
	pick_port port
	mkdir -p "$dir"
	chmod 755 "$dir"
	cat >"$dir/nginx.conf" <<EOF
# A production-style reverse proxy: one worker per core, keep-alive to the
# upstream, HTTP/1.1 upstream, no access log. Foreground, own pid/temp paths.
daemon off;
master_process on;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
    multi_accept on;
}
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client_body;
    proxy_temp_path       $dir/proxy;
    fastcgi_temp_path     $dir/fastcgi;
    uwsgi_temp_path       $dir/uwsgi;
    scgi_temp_path        $dir/scgi;
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
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
	start nginx nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
	wait_ready nginx "http://127.0.0.1:$port/" || return 1
	load nginx "http://127.0.0.1:$port$REQ_PATH"
}

run_caddy() {
	local port dir="$TMP/caddy"
	pick_port port
	mkdir -p "$dir/data" "$dir/config"
	cat >"$dir/Caddyfile" <<EOF
{
	admin off
	auto_https off
	log default {
		output discard
	}
}

http://127.0.0.1:$port {
	reverse_proxy 127.0.0.1:$UP_PORT {
		transport http {
			keepalive 90s
			keepalive_idle_conns_per_host $((CONNS * 2))
		}
	}
}
EOF
	XDG_DATA_HOME=$dir/data XDG_CONFIG_HOME=$dir/config \
		start caddy caddy run --adapter caddyfile --config "$dir/Caddyfile"
	wait_ready caddy "http://127.0.0.1:$port/" || return 1
	load caddy "http://127.0.0.1:$port$REQ_PATH"
}

metric() { # metric URL NAME: the value of an unlabelled Prometheus metric, or nothing
	curl -s --max-time 2 "$1" | awk -v m="$2" '$1 == m {print $2; exit}'
}

declare -A EVENTS=() # vigil target -> events written, all rounds

# vigil_target NAME DISCOVERY: runs `vigil gateway` as target NAME; DISCOVERY
# is "on" (the default config: no discovery key) or "off" (enabled: false).
vigil_target() {
	local name=$1 disc=$2
	if [[ -z $VIGIL ]]; then
		note "$name" "not run: $VIGIL_NOTE"
		return 0
	fi
	local port admin data disc_yaml=""
	data=$(mktemp -d "$TMP/$name-data-round$ROUND.XXXX") # a retry starts afresh
	pick_port port
	pick_port admin
	[[ $disc == on ]] || disc_yaml="discovery: {enabled: false}"
	# Vigil gateway config (SPEC "Configuration"). Edit here to bench other settings.
	cat >"$TMP/$name.yaml" <<EOF
mode: enforce
listen:
  http: 127.0.0.1:$port
admin: 127.0.0.1:$admin
data_dir: $data
routes:
  - name: bench
    match: {host: "*", path_prefix: /}
    upstream: $UPSTREAM_URL
events:
  file: $data/events.jsonl
$disc_yaml
EOF
	start "$name" "$VIGIL" gateway --config "$TMP/$name.yaml"
	wait_ready "$name" "http://127.0.0.1:$admin/readyz" ok || return 1
	wait_ready "$name" "http://127.0.0.1:$port/" || return 1
	# The pipeline must really be on the path: every proxied answer carries Vigil-Txn.
	if ! curl -s -D - -o /dev/null "http://127.0.0.1:$port$REQ_PATH" | grep -qi '^vigil-txn:'; then
		note "$name" "no Vigil-Txn header on a proxied answer"
		log "$name: WARNING no Vigil-Txn header on a proxied answer"
	fi
	load "$name" "http://127.0.0.1:$port$REQ_PATH" || return 1
	# Discovery must be on (and keeping up) or off as asked: its metrics say so.
	local eps dropped
	eps=$(metric "http://127.0.0.1:$admin/metrics" vigil_discovery_endpoints)
	dropped=$(metric "http://127.0.0.1:$admin/metrics" vigil_discovery_dropped_total)
	if [[ $disc == on ]]; then
		if [[ -z $eps ]]; then
			note "$name" "WARNING: no vigil_discovery_endpoints metric, discovery seems off"
			log "$name: WARNING discovery seems off"
		elif [[ -n $dropped && $dropped != 0 ]]; then
			note "$name" "round $ROUND: discovery dropped $dropped observations (queue full): it did less work than asked"
			log "$name: WARNING discovery dropped $dropped observations"
		else
			note "$name" "discovery on: $eps endpoint(s), 0 observations dropped"
		fi
	elif [[ -n $eps ]]; then
		note "$name" "WARNING: vigil_discovery_endpoints present, discovery is not off"
		log "$name: WARNING discovery is not off"
	fi
	stop "$name" # flushes the events file
	local events=0
	[[ -f $data/events.jsonl ]] && events=$(wc -l <"$data/events.jsonl")
	EVENTS[$name]=$((${EVENTS[$name]:-0} + events))
	log "$name: $events events in $data/events.jsonl"
}

run_vigil() { vigil_target vigil on; }
run_vigil_nodisc() { vigil_target vigil-nodisc off; }

start upstream "$TMP/upstream" -addr "127.0.0.1:$UP_PORT"
wait_ready upstream "$UPSTREAM_URL/" || die "upstream did not start"

for t in $TARGETS; do
	case $t in
	upstream | httputil | nginx | caddy | vigil | vigil-nodisc) ;;
	*) die "unknown target $t (want upstream httputil nginx caddy vigil vigil-nodisc)" ;;
	esac
done

for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
	for t in $TARGETS; do
		REASON=""
		if ! "run_${t//-/_}"; then
			# One retry on fresh ports: on a shared machine a port can be
			# taken between picking and binding, or a start-up can stall.
			[[ $t == upstream ]] || stop "$t"
			first=$REASON
			log "$t: retrying round $ROUND once"
			if "run_${t//-/_}"; then
				note "$t" "round $ROUND needed a retry ($first)"
			else
				note "$t" "round $ROUND failed: $REASON"
			fi
		fi
		[[ $t == upstream ]] || stop "$t"
	done
done
for t in vigil vigil-nodisc; do
	[[ -n ${RPS_L[$t]:-} ]] || continue
	# Every request wrk completed (warm-up included) must have produced an
	# event; requests still in flight when wrk stops may add up to CONNS more.
	note "$t" "${EVENTS[$t]:-0} events for ${SENT[$t]} requests completed (warm-up included)"
	if ((${EVENTS[$t]:-0} < ${SENT[$t]})); then
		note "$t" "WARNING: fewer events than requests, events were lost"
		log "$t: WARNING only ${EVENTS[$t]:-0} events for ${SENT[$t]} requests"
	fi
done

median() { # median N...: the median of the numbers, or nothing
	(($# > 0)) || return 0
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{ if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}
declare -A RPS=() P50=() P99=() CPUS=()
for t in $TARGETS; do
	# shellcheck disable=SC2086
	CPUS[$t]=$(median ${CPU_L[$t]:-})
	# shellcheck disable=SC2086 # the lists are meant to split
	RPS[$t]=$(median ${RPS_L[$t]:-})
	# shellcheck disable=SC2086
	P50[$t]=$(median ${P50_L[$t]:-})
	# shellcheck disable=SC2086
	P99[$t]=$(median ${P99_L[$t]:-})
done

# ------------------------------------------------------------------ report

ms() { [[ -n ${1:-} ]] && awk -v us="$1" 'BEGIN{printf "%.2f", us/1000}' || printf 'n/a'; }
ratio() { # ratio A B: A/B with 2 decimals, or n/a
	[[ -n ${1:-} && -n ${2:-} ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else printf "n/a" }' || printf 'n/a'
}

TABLE="| target | requests/s | p50 ms | p99 ms | CPU µs/req | errors | notes |
|---|---:|---:|---:|---:|---:|---|"
printf '\n%-13s %12s %9s %9s %10s %8s  %s\n' target requests/s "p50 ms" "p99 ms" "cpu us/req" errors notes
for t in $TARGETS; do
	rps=${RPS[$t]:-}
	rps_i=n/a
	[[ -n $rps ]] && rps_i=$(printf '%.0f' "$rps")
	note=${NOTE[$t]:-}
	note=${note%; }
	cpu=${CPUS[$t]:-n/a}
	[[ $t != upstream ]] || cpu="${cpu} (upstream itself)"
	printf '%-13s %12s %9s %9s %10s %8s  %s\n' "$t" "$rps_i" "$(ms "${P50[$t]:-}")" "$(ms "${P99[$t]:-}")" "$cpu" "${ERRS[$t]:-n/a}" "$note"
	TABLE+="
| $t | $rps_i | $(ms "${P50[$t]:-}") | $(ms "${P99[$t]:-}") | $cpu | ${ERRS[$t]:-n/a} | $note |"
done

ROUNDS_MD=""
if ((ROUNDS > 1)); then
	ROUNDS_MD=$'\nThe table shows medians over the rounds. Requests/s of each round:\n'
	for t in $TARGETS; do ROUNDS_MD+=$'\n'"- $t: ${RPS_L[$t]:-n/a}"; done
	ROUNDS_MD+=$'\n\nCPU µs per request of each round:\n'
	for t in $TARGETS; do ROUNDS_MD+=$'\n'"- $t: ${CPU_L[$t]:-n/a}"; done
	ROUNDS_MD+=$'\n'
fi

R_HTTPUTIL=$(ratio "${RPS[vigil]:-}" "${RPS[httputil]:-}")
R_NGINX=$(ratio "${RPS[vigil]:-}" "${RPS[nginx]:-}")
R_CADDY=$(ratio "${RPS[vigil]:-}" "${RPS[caddy]:-}")
R_P99=$(ratio "${P99[vigil]:-}" "${P99[httputil]:-}")
R_DISC=$(ratio "${RPS[vigil]:-}" "${RPS[vigil-nodisc]:-}")
R_DISC_P99=$(ratio "${P99[vigil]:-}" "${P99[vigil-nodisc]:-}")
R_CPU_HTTPUTIL=$(ratio "${CPUS[vigil]:-}" "${CPUS[httputil]:-}")
R_CPU_CADDY=$(ratio "${CPUS[vigil]:-}" "${CPUS[caddy]:-}")
verdict() { # verdict VALUE OP LIMIT: "met", "missed" or "" (no value); OP is ge or le
	[[ $1 != n/a ]] || return 0
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN{ ok = (op == "ge") ? v >= l : v <= l; printf "%s", ok ? "met" : "missed" }'
}
RATIOS="| ratio | value | target | |
|---|---:|---|---|
| Vigil / httputil (requests/s) | $R_HTTPUTIL | ≥ 0.90 | $(verdict "$R_HTTPUTIL" ge 0.9) |
| Vigil / nginx (requests/s) | $R_NGINX | | |
| Vigil / Caddy (requests/s) | $R_CADDY | ≥ 1.00 | $(verdict "$R_CADDY" ge 1.0) |
| Vigil p99 / httputil p99 | $R_P99 | ≤ 1.50 | $(verdict "$R_P99" le 1.5) |
| Vigil discovery on / off (requests/s) | $R_DISC | ≥ 0.95 | $(verdict "$R_DISC" ge 0.95) |
| Vigil discovery on / off (p99) | $R_DISC_P99 | | |
| Vigil / httputil (CPU per request) | $R_CPU_HTTPUTIL | | |
| Vigil / Caddy (CPU per request) | $R_CPU_CADDY | | |"
printf '\nVigil/httputil rps %s   Vigil/nginx rps %s   Vigil/Caddy rps %s   Vigil p99 / httputil p99 %s\n' \
	"$R_HTTPUTIL" "$R_NGINX" "$R_CADDY" "$R_P99"
printf 'Vigil discovery on / off rps %s   Vigil discovery on / off p99 %s\n' "$R_DISC" "$R_DISC_P99"

CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
NGINX_V=$( (nginx -v 2>&1 || true) | sed 's/^nginx version: nginx\///')
CADDY_V=$( (caddy version 2>/dev/null || true) | awk '{print $1}')
WRK_V=$( (wrk -v 2>&1 || true) | head -n 1 | awk '{print $2}')

cat >"$RESULTS" <<EOF
# Gateway benchmark results

Written by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC'); overwritten by every run.

- machine: $(nproc) CPUs ($CPU), $(uname -sr), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end
- software: $(go version | awk '{print $3}'), nginx $NGINX_V, Caddy $CADDY_V, wrk $WRK_V, Vigil commit $COMMIT
- load: $ROUNDS round(s) of \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\` per target, each after a $WARMUP warm-up, \`GET $REQ_PATH\`, ~1 KB JSON answer, all on loopback; wrk and the target share the CPUs (nothing pinned)

$TABLE
$ROUNDS_MD
$RATIOS

errors = non-2xx answers + socket errors during the measured run; a target with errors is not comparable.
CPU µs/req = user+system CPU time of the target's processes (nginx: master and workers) during the measured run, divided by its requests;
lower is better, and it moves less than requests/s when neighbours on a shared machine take CPU time.
\`vigil\` runs with discovery on (default config, default \`sample_rate\`), \`vigil-nodisc\` with \`discovery: {enabled: false}\`;
the targets are the issue's. On a shared machine judge them on \`BENCH_ROUNDS=3\` medians, not on one short run.
EOF
log "wrote $RESULTS"
