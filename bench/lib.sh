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
wait_ready() { # wait_ready NAME URL [HEADER]
	for _ in $(seq 300); do
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
# wrk_lua FILE: a wrk script printing one BENCH line (rps, p50, p99, errors).
wrk_lua() {
	cat >"$1" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH rps=%.1f p50_us=%.0f p99_us=%.0f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA
}
