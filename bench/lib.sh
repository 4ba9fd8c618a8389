# bench/lib.sh — what the bench scripts share: process start/stop with
# cleanup on exit, free ports, readiness, medians. Source it after setting
# TMP and KEEP.

declare -A PID=()
log() { printf '[%s] %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
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
	if [[ ${KEEP:-0} == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
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
wait_ready() { # wait_ready NAME URL [HEADER]: until URL answers, READY_TRIES × 0.1 s at most (default 30 s)
	for _ in $(seq "${READY_TRIES:-300}"); do
		kill -0 "${PID[$1]}" 2>/dev/null || { tail -n 20 "$TMP/$1.log" >&2; return 1; }
		curl -s -o /dev/null --max-time 1 ${3:+-H "$3"} "$2" && return 0
		sleep 0.1
	done
	tail -n 20 "$TMP/$1.log" >&2
	return 1
}
need() { # need PKG... : install Debian packages that are missing
	local missing=()
	for p in "$@"; do command -v "$p" >/dev/null || missing+=("$p"); done
	[[ ${#missing[@]} == 0 ]] && return 0
	local sudo=""; [[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || die "could not install ${missing[*]}"
}
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# wrk_lua FILE [LUA]: a wrk script (LUA first, e.g. request headers)
# printing one BENCH line: rps, p50, p99, errors.
wrk_lua() {
	{
		[[ -n ${2:-} ]] && printf '%s\n' "$2"
		cat <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%.0f p99_us=%.0f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
	} >"$1"
}

# measure TARGET...: ROUNDS interleaved rounds of wrk (warm-up, then the
# measured run) on URL[TARGET] with $TMP/req.lua; fills RPS, P50, P99 (one
# value per round, space-separated) and BAD (errors + non-2xx, summed).
declare -A URL=() RPS=() P50=() P99=() BAD=()
measure() {
	local round t out line
	for round in $(seq "$ROUNDS"); do
		for t in "$@"; do
			out="$TMP/wrk-$t-$round.txt"
			log "round $round/$ROUNDS $t: warm-up $WARMUP, then -t$THREADS -c$CONNS -d$DURATION"
			wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$TMP/req.lua" "${URL[$t]}" >/dev/null 2>&1 || true
			wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$TMP/req.lua" "${URL[$t]}" >"$out" 2>&1 || die "wrk failed on $t"
			line=$(grep '^BENCH' "$out")
			RPS[$t]+="$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$line") "
			P50[$t]+="$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line") "
			P99[$t]+="$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line") "
			BAD[$t]=$((${BAD[$t]:-0} + $(sed -E 's/.*errors=([0-9]+) non2xx=([0-9]+).*/\1+\2/' <<<"$line")))
		done
	done
}

# ratio A B: median requests/s of A over B, two decimals.
ratio() { awk -v a="$(median "${RPS[$1]}")" -v b="$(median "${RPS[$2]}")" 'BEGIN {printf "%.2f", a/b}'; }

# table TARGET...: the markdown table of what measure filled.
table() {
	echo "| target | requests/s | p50 | p99 | errors + non-2xx | rounds (rps) |"
	echo "|---|---:|---:|---:|---:|---|"
	local t
	for t in "$@"; do
		printf '| %s | %s | %s µs | %s µs | %s | %s|\n' "$t" "$(median "${RPS[$t]}")" "$(median "${P50[$t]}")" "$(median "${P99[$t]}")" "${BAD[$t]}" "${RPS[$t]}"
	done
}
