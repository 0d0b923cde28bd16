#!/usr/bin/env bash
# run.sh - the main job: set up, start the miniagent daemon with the example
# pods (examples/*.yaml as static pod manifests) and show their live status.
#
#   run.sh          set up, (re)start the daemon, watch the pods (Ctrl-C stops watching only)
#   run.sh stop     stop the daemon (its containers keep running, like kubelet's,
#                   and are re-adopted by the next start)
#   run.sh status   is the daemon running? plus `get pods -o wide`
#   run.sh clean    remove every pod (the daemon runs once more with an empty
#                   manifest directory and deletes the rest), then stop it
#
# Environment: MINIAGENT_CONTAINERD_ADDRESS, MINIAGENT_NAMESPACE (see setup.sh),
# MINIAGENT_SOCKET (default /run/miniagent/miniagent.sock),
# MINIAGENT_WATCH_SECONDS (stop watching after this many seconds; default: never).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/bin/miniagent
ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
NS=${MINIAGENT_NAMESPACE:-miniagent}
export MINIAGENT_SOCKET=${MINIAGENT_SOCKET:-/run/miniagent/miniagent.sock}
PIDFILE=$(dirname "$MINIAGENT_SOCKET")/agent.pid
LOG=/var/log/miniagent/agent.log

running_pid() { # prints the daemon's pid if it runs
	local pid
	[ -f "$PIDFILE" ] || return 1
	pid=$(cat "$PIDFILE")
	kill -0 "$pid" 2>/dev/null && grep -q miniagent "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

stop_daemon() {
	local pid
	if ! pid=$(running_pid); then
		echo "miniagent daemon is not running"
		rm -f "$PIDFILE"
		return 0
	fi
	echo "stopping miniagent daemon (pid $pid)"
	kill -TERM "$pid"
	for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "still running after 30s: SIGKILL"
		kill -KILL "$pid"
	fi
	rm -f "$PIDFILE"
}

start_daemon() { # start_daemon MANIFEST_DIR: start in the background, wait for the API
	mkdir -p "$(dirname "$PIDFILE")" "$(dirname "$LOG")"
	# The node gets the label the node-affinity example asks for. See examples/README.md.
	setsid nohup "$BIN" daemon \
		--containerd-address "$ADDR" \
		--containerd-namespace "$NS" \
		--socket "$MINIAGENT_SOCKET" \
		--pod-manifest-path "$1" \
		--node-labels kubernetes.io/e2e-az-name=e2e-az1 \
		>>"$LOG" 2>&1 </dev/null &
	echo $! >"$PIDFILE"
	for i in $(seq 1 150); do
		"$BIN" get node -o json >/dev/null 2>&1 && return 0
		if [ "$i" = 150 ] || ! running_pid >/dev/null; then
			echo "miniagent daemon did not come up; last lines of $LOG:" >&2
			tail -n 30 "$LOG" >&2
			exit 1
		fi
		sleep 0.2
	done
}

clean() {
	[ -x "$BIN" ] || { echo "no $BIN: nothing to clean" >&2; return 0; }
	stop_daemon >/dev/null
	local empty
	empty=$(mktemp -d)
	echo "starting the daemon with an empty manifest directory to remove the static pods"
	start_daemon "$empty"
	local p
	for p in $("$BIN" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}'); do
		"$BIN" delete pod "${p#*/}" -n "${p%%/*}" --wait=true >/dev/null 2>&1 || true
	done
	for _ in $(seq 1 300); do
		[ -z "$("$BIN" get pods -A -o jsonpath='{.items[*].metadata.name}' 2>/dev/null)" ] && break
		sleep 0.2
	done
	local left
	left=$("$BIN" get pods -A -o jsonpath='{.items[*].metadata.name}' 2>/dev/null || true)
	stop_daemon
	rmdir "$empty"
	if [ -n "$left" ]; then
		echo "pods left after 60s: $left" >&2
		return 1
	fi
	echo "all pods removed"
}

case "${1:-}" in
stop)
	stop_daemon
	exit 0
	;;
clean)
	clean
	exit $?
	;;
status)
	if pid=$(running_pid); then echo "miniagent daemon running (pid $pid, log $LOG)"; else echo "miniagent daemon not running"; fi
	"$BIN" get pods -A -o wide
	exit 0
	;;
"") ;;
*)
	echo "usage: $0 [stop|status|clean]" >&2
	exit 2
	;;
esac

[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
bash "$REPO/scripts/setup.sh"

printf '\n==> miniagent daemon\n'
stop_daemon >/dev/null # a fresh binary replaces an old daemon; pods keep running
start_daemon "$REPO/examples"
echo "    running: pid $(cat "$PIDFILE"), log $LOG, socket $MINIAGENT_SOCKET"

on_exit() {
	printf '\nThe miniagent daemon keeps running (pid %s, log %s).\n' "$(cat "$PIDFILE" 2>/dev/null)" "$LOG"
	printf 'Watch again:  %s get pods -A -o wide -w\nStop it:      sudo %s stop    (pods keep running)\nRemove all:   sudo %s clean\n' "$BIN" "$0" "$0"
}
trap on_exit EXIT
trap 'exit 0' INT TERM

printf '\n==> pods (Ctrl-C to stop watching)\n'
deadline=${MINIAGENT_WATCH_SECONDS:+$((SECONDS + MINIAGENT_WATCH_SECONDS))}
if [ -t 0 ] && [ -t 1 ] && [ -z "$deadline" ]; then
	"$BIN" get pods -A -o wide -w
else
	while [ -z "$deadline" ] || [ "$SECONDS" -lt "$deadline" ]; do
		printf -- '--- %s\n' "$(date +%T)"
		"$BIN" get pods -A -o wide || true
		sleep 5
	done
fi
