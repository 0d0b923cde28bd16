#!/usr/bin/env bash
# fuzz.sh - run every Go fuzz target of the repository, one after another.
#
#   fuzz.sh DURATION        e.g. fuzz.sh 10m, fuzz.sh 1h30m, fuzz.sh 90s
#
# DURATION is the total: it is split evenly between the targets, with at
# least 30 s each (so with many targets the run takes longer than DURATION).
# Targets are the FuzzXxx functions that `go test -list '^Fuzz'` reports, for
# the packages that have a `func Fuzz` in a _test.go file. Their seed corpora
# (f.Add and testdata/fuzz/FuzzXxx/) also run in the normal `go test ./...`.
#
# Each target runs with at most FUZZ_PARALLEL workers. A failure (a panic, a
# broken property, a seed that fails, a build error) does not stop the run;
# at the end a summary lists every target with its executions, and for each
# failure where go test saved the crashing input
# (<package>/testdata/fuzz/FuzzXxx/<hash>: commit it with the fix, it then
# runs as a seed) and the command that re-runs it. The exit status is 1 if
# any target failed, 2 on a usage error.
#
# Environment:
#   FUZZ_PARALLEL=2   fuzzing workers per target (the machines have 2 cores)
#   FUZZ_MIN=30       seconds each target gets at least
#   FUZZ_ONLY=REGEXP  run only the targets whose name matches (grep -E)
#   FUZZ_KEEP_LOGS=DIR  copy each target's go test output to DIR/<Target>.log
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH=$PATH:/usr/local/go/bin
SCRIPT=$(basename "$0")
PARALLEL=${FUZZ_PARALLEL:-2}
MIN=${FUZZ_MIN:-30}

usage() {
	printf 'usage: %s DURATION   (total time, e.g. 10m, 1h30m, 90s)\n' "$SCRIPT" >&2
	exit 2
}

# seconds DURATION: a Go-style duration of whole h, m and s units in seconds.
seconds() {
	local d=$1 total=0 n unit
	[[ $d =~ ^([0-9]+[hms])+$ ]] || return 1
	while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
		n=$((10#${BASH_REMATCH[1]})) unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $unit in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
	done
	echo "$total"
}

[ $# -eq 1 ] || usage
total=$(seconds "$1") || usage
[ "$total" -gt 0 ] || usage

# Discover the targets: "<package dir> <Target>" per line.
mapfile -t dirs < <(grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . |
	xargs -r -n1 dirname | sort -u)
if [ ${#dirs[@]} -eq 0 ]; then
	echo "$SCRIPT: no fuzz targets found"
	exit 0
fi
targets=()
for dir in "${dirs[@]}"; do
	out=$(go test -list '^Fuzz' "$dir") || {
		printf '%s\n%s: go test -list failed in %s\n' "$out" "$SCRIPT" "$dir" >&2
		exit 1
	}
	while read -r name; do
		[[ $name =~ ^Fuzz ]] || continue
		[ -z "${FUZZ_ONLY:-}" ] || grep -qE -- "$FUZZ_ONLY" <<<"$name" || continue
		targets+=("$dir $name")
	done <<<"$out"
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "$SCRIPT: no fuzz targets found"
	exit 0
fi

per=$((total / ${#targets[@]}))
[ "$per" -ge "$MIN" ] || per=$MIN
printf '%s: %d targets, %ds each, %d workers each\n' "$SCRIPT" ${#targets[@]} "$per" "$PARALLEL"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	log=$logs/$name.log
	printf '\n===== %s (%s), %ds =====\n' "$name" "${dir#./}" "$per"
	rc=0
	go test -run '^$' -fuzz "^$name\$" -fuzztime "${per}s" -parallel "$PARALLEL" \
		-timeout "$((per + 600))s" "$dir" 2>&1 | tee "$log" || rc=$?
	[ -z "${FUZZ_KEEP_LOGS:-}" ] || { mkdir -p "$FUZZ_KEEP_LOGS" && cp "$log" "$FUZZ_KEEP_LOGS/"; }
	last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -n 1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	line=$(printf '%-24s %-18s execs %-10s' "$name" "${dir#./}" "${execs:-?}")
	if [ "$rc" = 0 ]; then
		summary+=("$line ok")
		continue
	fi
	failed=1
	crasher=$(sed -nE 's/.*Failing input written to (testdata\/fuzz\/[^ ]+).*/\1/p' "$log" | tail -n 1)
	if [ -n "$crasher" ]; then
		summary+=("$line FAILED: input saved in ${dir#./}/$crasher; re-run: go test -run '$name/${crasher##*/}' $dir")
	else
		summary+=("$line FAILED (exit $rc, no input saved: a seed, the build or the run failed; see above)")
	fi
done

printf '\n===== summary =====\n'
printf '%s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
	echo "FAILED"
	exit 1
fi
echo "all fuzz targets passed"
