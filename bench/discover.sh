#!/usr/bin/env bash
# bench/discover.sh — measures offline discovery (`vigil discover`) on large
# access logs, on this machine, in one run. See bench/README.md.
#
# Generates into a temp dir, from the real Apache log in shared/data:
#   replicated  the 10,000-line log repeated to DISCOVER_LINES lines
#   gzip        the same file gzipped (discover reads .gz transparently)
#   distinct    DISCOVER_LINES lines, every one with a distinct raw path: a
#               unique numeric id segment appended to each path (/a/b.png/1734)
#   slugs       the same with a unique lowercase-letter segment (/a/b.png/kqzd),
#               which no type check recognises: the templater must merge it
#               from evidence, the hardest case for its memory bound
# and runs `vigil discover --format json -q FILE` on each under
# /usr/bin/time -v: lines/s (lines / wall seconds), peak RSS, endpoints found.
#
# Environment (all optional):
#   DISCOVER_LINES=1000000   lines per generated log
#   DISCOVER_CASES="replicated gzip distinct slugs"   subset / order
#   DISCOVER_SRC=../shared/data/apache_logs (relative to the repo root)
#   DISCOVER_VIGIL=/path/to/vigil   use this binary instead of building ./cmd/vigil
#   DISCOVER_RESULTS=bench/results-discover.md   where the markdown table goes
#   DISCOVER_KEEP=1          keep the temp dir (logs, JSON output, time -v output)
set -euo pipefail

LINES=${DISCOVER_LINES:-1000000}
CASES=${DISCOVER_CASES:-"replicated gzip distinct slugs"}
KEEP=${DISCOVER_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${DISCOVER_SRC:-$ROOT/../shared/data/apache_logs}
RESULTS=${DISCOVER_RESULTS:-$ROOT/bench/results-discover.md}
export PATH="$PATH:/usr/local/go/bin"

# The issue's targets.
GOAL_RATE=300000 # lines/s, every case
GOAL_RSS_MB=256  # peak RSS with DISCOVER_LINES distinct raw paths

log() { printf '[discover] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[[ $LINES =~ ^[1-9][0-9]*$ ]] || die "DISCOVER_LINES must be a positive integer"
[[ -r $SRC ]] || die "source log $SRC not readable (set DISCOVER_SRC)"
for c in $CASES; do
	case $c in
	replicated | gzip | distinct | slugs) ;;
	*) die "unknown case $c (want replicated gzip distinct slugs)" ;;
	esac
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# The commit being built, taken before the build: others may commit meanwhile.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "(no commit)")
if [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1) ]]; then COMMIT+=" (dirty tree)"; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-discover.XXXXXX")
CHILD=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; fi
	if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_cmd() { # ensure_cmd PATH DEBIAN_PACKAGE
	[[ -x $1 ]] || command -v "$1" >/dev/null && return 0
	log "$1 missing; installing Debian package $2"
	local sudo=""
	[[ $(id -u) == 0 ]] || sudo=sudo
	{ $sudo apt-get update -qq && $sudo apt-get install -y -qq "$2" >/dev/null; } || die "could not install $2"
}
ensure_cmd /usr/bin/time time
ensure_cmd gzip gzip
command -v go >/dev/null || die "go not found (looked in PATH and /usr/local/go/bin)"

# ------------------------------------------------------------------- build

if [[ -n ${DISCOVER_VIGIL:-} ]]; then
	VIGIL=$DISCOVER_VIGIL
else
	log "building ./cmd/vigil into $TMP"
	(cd "$ROOT" && go build -o "$TMP/vigil" ./cmd/vigil) || die "go build ./cmd/vigil failed"
	VIGIL=$TMP/vigil
fi

# ------------------------------------------------------------------ inputs

# gen MODE OUT: DISCOVER_LINES lines cycling through SRC. MODE "same" copies
# them; "num" and "slug" append a segment unique to each line (the line
# number, in decimal or in letters a-z) to the path of the request line,
# before any query string. Lines whose request is not "METHOD PATH PROTO"
# stay as they are.
gen() {
	awk -v n="$LINES" -v mode="$1" '
	function letters(i,   s) { s = ""; do { s = substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, 1) s; i = int(i / 26) } while (i > 0); return s }
	{ src[NR] = $0 }
	END {
		for (i = 0; i < n; i++) {
			line = src[i % NR + 1]
			if (mode != "same") {
				q1 = index(line, "\"")
				rest = substr(line, q1 + 1)
				q2 = index(rest, "\"")
				req = substr(rest, 1, q2 - 1)
				if (q1 > 0 && q2 > 0 && split(req, f, " ") == 3 && substr(f[2], 1, 1) == "/") {
					id = (mode == "num") ? i + 1 : letters(i)
					path = f[2]; query = ""
					qm = index(path, "?")
					if (qm > 0) { query = substr(path, qm); path = substr(path, 1, qm - 1) }
					sub(/\/$/, "", path)
					line = substr(line, 1, q1) f[1] " " path "/" id query " " f[3] substr(rest, q2)
				}
			}
			print line
		}
	}' "$SRC" >"$2"
}

declare -A FILE=() DESC=()
for c in $CASES; do
	case $c in
	replicated | gzip)
		if [[ ! -f $TMP/replicated.log ]]; then
			log "generating $LINES lines replicated from $SRC"
			gen same "$TMP/replicated.log"
		fi
		FILE[replicated]=$TMP/replicated.log
		DESC[replicated]="$(wc -l <"$SRC" | tr -d ' ')-line Apache log repeated"
		if [[ $c == gzip ]]; then
			log "gzipping it"
			gzip -c "$TMP/replicated.log" >"$TMP/replicated.log.gz"
			FILE[gzip]=$TMP/replicated.log.gz
			DESC[gzip]="the same, gzipped ($(awk -v b="$(stat -c %s "$TMP/replicated.log.gz")" -v r="$(stat -c %s "$TMP/replicated.log")" 'BEGIN{printf "%.1f MB of %.1f MB", b/1048576, r/1048576}'))"
		fi
		;;
	distinct)
		log "generating $LINES lines with distinct numeric id segments"
		gen num "$TMP/distinct.log"
		FILE[distinct]=$TMP/distinct.log
		DESC[distinct]="every path distinct: /…/{line number}"
		;;
	slugs)
		log "generating $LINES lines with distinct letter segments"
		gen slug "$TMP/slugs.log"
		FILE[slugs]=$TMP/slugs.log
		DESC[slugs]="every path distinct: /…/{line number in letters a-z}"
		;;
	esac
done

# --------------------------------------------------------------------- run

declare -A RATE=() RSS=() WALL=() EPS=() NLINES=() DISTINCT=() NOTE=()

for c in $CASES; do
	f=${FILE[$c]}
	if [[ $c == gzip ]]; then NLINES[$c]=$LINES; else NLINES[$c]=$(wc -l <"$f" | tr -d ' '); fi
	plain=$f
	[[ $c != gzip ]] || plain=$TMP/replicated.log
	DISTINCT[$c]=$(awk -F'"' '{split($2, r, " "); p = r[2]; sub(/\?.*/, "", p); print p}' "$plain" | sort -u | wc -l | tr -d ' ')
	log "$c: vigil discover --format json -q $(basename "$f")"
	start=$(date +%s%N)
	rc=0
	/usr/bin/time -v -o "$TMP/$c.time" "$VIGIL" discover --format json -q "$f" >"$TMP/$c.json" 2>"$TMP/$c.err" &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	end=$(date +%s%N)
	if ((rc != 0)); then
		NOTE[$c]="failed (exit $rc): $(tail -n 3 "$TMP/$c.err" | tr '\n' ' ')"
		log "$c: ${NOTE[$c]}"
		continue
	fi
	WALL[$c]=$(awk -v ns="$((end - start))" 'BEGIN{printf "%.2f", ns/1e9}')
	RATE[$c]=$(awk -v l="${NLINES[$c]}" -v ns="$((end - start))" 'BEGIN{printf "%.0f", l/(ns/1e9)}')
	RSS[$c]=$(awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$TMP/$c.time")
	if command -v jq >/dev/null; then
		EPS[$c]=$(jq '.endpoints | length' "$TMP/$c.json")
	else
		EPS[$c]=$(grep -c '^      "method": ' "$TMP/$c.json" || true)
	fi
	log "$c: ${WALL[$c]} s, ${RATE[$c]} lines/s, peak RSS ${RSS[$c]} MB, ${EPS[$c]} endpoints"
done

# ------------------------------------------------------------------ report

verdict() { # verdict VALUE OP LIMIT: met / missed / "" when there is no value
	[[ -n $1 ]] || return 0
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN{ ok = (op == "ge") ? v >= l : v < l; printf "%s", ok ? "met" : "missed" }'
}

TABLE="| case | input | lines | distinct raw paths | wall s | lines/s | peak RSS MB | endpoints | notes |
|---|---|---:|---:|---:|---:|---:|---:|---|"
printf '\n%-11s %9s %9s %8s %10s %9s %9s  %s\n' case lines distinct "wall s" lines/s "RSS MB" endpoints notes
for c in $CASES; do
	note=${NOTE[$c]:-}
	if [[ -n ${RATE[$c]:-} ]]; then
		note="rate $(verdict "${RATE[$c]}" ge $GOAL_RATE)"
		if [[ $c == distinct || $c == slugs ]]; then note+=", memory $(verdict "${RSS[$c]}" lt $GOAL_RSS_MB)"; fi
	fi
	printf '%-11s %9s %9s %8s %10s %9s %9s  %s\n' "$c" "${NLINES[$c]}" "${DISTINCT[$c]:-}" "${WALL[$c]:-n/a}" \
		"${RATE[$c]:-n/a}" "${RSS[$c]:-n/a}" "${EPS[$c]:-n/a}" "$note"
	TABLE+="
| $c | ${DESC[$c]} | ${NLINES[$c]} | ${DISTINCT[$c]:-} | ${WALL[$c]:-n/a} | ${RATE[$c]:-n/a} | ${RSS[$c]:-n/a} | ${EPS[$c]:-n/a} | $note |"
done

CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)

cat >"$RESULTS" <<EOF
# Offline discovery benchmark results

Written by \`bench/discover.sh\` on $(date -u '+%Y-%m-%d %H:%M:%S UTC'); overwritten by every run.

- machine: $(nproc) CPUs ($CPU), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) memory, $(uname -sr), load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end
- software: $(go version | awk '{print $3}'), Vigil commit $COMMIT
- command: \`/usr/bin/time -v vigil discover --format json -q FILE\`, one run per case, file in the page cache (just written); lines/s = lines / wall seconds of the whole command (start-up and JSON output included); peak RSS = "Maximum resident set size"
- source: \`$(basename "$SRC")\` ($(wc -l <"$SRC" | tr -d ' ') lines of Apache combined log); "distinct raw paths" counts paths without query string

$TABLE

Targets: ≥ $GOAL_RATE lines/s on every case; peak memory < $GOAL_RSS_MB MB with $LINES distinct raw paths (\`distinct\`, \`slugs\`).
The machine is shared: a busy neighbour lowers lines/s, so read the load average above before reading the rates.
EOF
log "wrote $RESULTS"
