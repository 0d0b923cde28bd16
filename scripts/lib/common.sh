# common.sh - helpers shared by the benchmark and soak scripts
# (bench-start.sh, bench-probes.sh, bench-oom.sh, soak.sh). Source it, do not
# run it. Each of those scripts starts miniagent daemons of its own, with their
# own files, containerd namespace and cgroup root, and must leave nothing
# behind, also on error or Ctrl-C. This file holds that machinery:
#
#   - a clean-up registry: ma_on_exit CMD [ARGS...] registers a command; on
#     exit (normal, error, INT or TERM) the commands run newest first, with
#     errors ignored and INT/TERM ignored, then the script exits with its
#     status (130 after INT or TERM). $MA_RC holds that status meanwhile.
#   - ma_start_daemon / ma_stop_daemon: one daemon at a time, stopped only by
#     the PID this script started it with (never by name), its pods deleted
#     through its API first (it leaves pods running when stopped).
#   - ma_clean_namespace, ma_clean_cgroups, ma_unmount_under: remove what a
#     run left in containerd, in every cgroup hierarchy, and in the mount table.
#
# Sourcing sets MA_REPO (the repository), MA_ADDR (containerd's socket, from
# MINIAGENT_CONTAINERD_ADDRESS), MA_BIN (bin/miniagent; a script may point it
# elsewhere), MA_SCRIPT (the script's name for messages), extends PATH, and
# installs the traps. A script sets MA_NS and MA_CGROUP_ROOT before it starts
# a daemon.

MA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MA_ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
MA_BIN=$MA_REPO/bin/miniagent
MA_SCRIPT=$(basename "$0")
MA_NS=
MA_CGROUP_ROOT=
MA_WORK=
MA_DAEMON_PID=
MA_SOCK=
MA_LOG=
MA_RC=0
MA_CLEANUPS=()
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

ma_die() {
	printf '%s: error: %s\n' "$MA_SCRIPT" "$*" >&2
	exit 1
}

# ma_on_exit CMD [ARGS...]: run CMD ARGS at exit, before everything
# registered earlier.
ma_on_exit() {
	MA_CLEANUPS+=("$(printf '%q ' "$@")")
}

ma_run_cleanups() {
	MA_RC=$?
	set +e
	trap '' INT TERM
	local i
	for ((i = ${#MA_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${MA_CLEANUPS[i]}"
	done
	exit "$MA_RC"
}
trap ma_run_cleanups EXIT
trap 'exit 130' INT TERM

# ma_require_root: die unless the script runs as root.
ma_require_root() {
	[ "$(id -u)" = 0 ] || ma_die "run as root"
}

# ma_setup SKIP [--need-bin]: run scripts/setup.sh unless SKIP is 1; with
# --need-bin, then insist on bin/miniagent, bin/miniagent-daemon and
# bin/busybox-image.tar.
ma_setup() {
	[ "$1" = 1 ] || bash "$MA_REPO/scripts/setup.sh"
	[ "${2:-}" = --need-bin ] || return 0
	[ -x "$MA_BIN" ] || ma_die "no $MA_BIN (run scripts/setup.sh)"
	[ -x "$MA_BIN-daemon" ] || ma_die "no $MA_BIN-daemon, which \`miniagent daemon\` runs (run scripts/setup.sh)"
	[ -f "$MA_REPO/bin/busybox-image.tar" ] || ma_die "no bin/busybox-image.tar (run scripts/setup.sh)"
}

# ma_make_workdir NAME: a fresh temporary directory /tmp/NAME.XXXXXX in
# $MA_WORK, removed at exit after every mount below it is undone.
ma_make_workdir() {
	MA_WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	ma_on_exit rm -rf "$MA_WORK"
	ma_on_exit ma_unmount_under "$MA_WORK"
}

# ma_unmount_under DIR: every mount below DIR (netns bind mounts, tmpfs
# emptyDirs), deepest first.
ma_unmount_under() {
	awk -v w="$1/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	return 0
}

# ma_ctr NS ARGS...: ctr on $MA_ADDR in containerd namespace NS.
ma_ctr() {
	ctr --address "$MA_ADDR" -n "$1" "${@:2}"
}

# ma_import_image TAR NS...: import the image archive TAR into each namespace.
ma_import_image() {
	local tar=$1 ns
	shift
	for ns in "$@"; do
		"$MA_BIN" image import "$tar" --containerd-address "$MA_ADDR" --containerd-namespace "$ns" >/dev/null
	done
}

ma_remove_snapshots() {
	local id
	for id in $(ma_ctr "$1" snapshots ls 2>/dev/null | awk 'NR>1{print $1}'); do
		ma_ctr "$1" snapshots rm "$id" >/dev/null 2>&1 || true
	done
}

# ma_clean_namespace NS...: every task, container, image and snapshot of each
# containerd namespace, then the namespace itself. A namespace that does not
# exist is skipped.
ma_clean_namespace() {
	local ns id pass
	for ns in "$@"; do
		# Not grep -q: it would stop reading at the first match, ctr could
		# die of SIGPIPE and, under pipefail, the namespace be skipped.
		ctr --address "$MA_ADDR" namespaces ls -q 2>/dev/null | grep -x "$ns" >/dev/null || continue
		for id in $(ma_ctr "$ns" tasks ls -q 2>/dev/null); do
			ma_ctr "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
			ma_ctr "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		for id in $(ma_ctr "$ns" containers ls -q 2>/dev/null); do
			ma_ctr "$ns" containers delete "$id" >/dev/null 2>&1 || true
		done
		ma_remove_snapshots "$ns" # the containers' own, before the image goes
		for id in $(ma_ctr "$ns" images ls -q 2>/dev/null); do
			ma_ctr "$ns" images rm "$id" >/dev/null 2>&1 || true
		done
		for pass in 1 2 3; do # children before parents: one pass per layer
			ma_remove_snapshots "$ns"
		done
		# Content goes with containerd's garbage collector a moment later.
		for pass in $(seq 1 50); do
			ctr --address "$MA_ADDR" namespaces rm "$ns" >/dev/null 2>&1 && continue 2
			sleep 0.2
		done
		echo "warning: containerd namespace $ns could not be removed" >&2
	done
	return 0
}

# ma_clean_cgroups NAME...: the cgroup directory NAME in every hierarchy
# (v1 and the unified one), leaves first.
ma_clean_cgroups() {
	local name d
	for name in "$@"; do
		for d in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
			[ -d "$d" ] || continue
			find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
			[ -d "$d" ] && echo "warning: could not remove cgroup $d" >&2
		done
	done
	return 0
}

# ma_start_daemon SOCK LOG DIR [FLAGS...]: start `miniagent daemon` on
# containerd namespace $MA_NS and cgroup root $MA_CGROUP_ROOT with its socket
# at SOCK, its output in LOG, its --root-dir DIR/root and --pod-logs-dir
# DIR/pods, plus FLAGS; wait up to 30 s until its API answers. Sets
# MA_DAEMON_PID, MA_SOCK and MA_LOG; the daemon is stopped at exit.
ma_start_daemon() {
	local i
	[ -z "$MA_DAEMON_PID" ] || ma_die "a daemon (pid $MA_DAEMON_PID) is already running"
	MA_SOCK=$1 MA_LOG=$2
	mkdir -p "$3/root" "$3/pods"
	# Its own session: a Ctrl-C on the terminal reaches this script (which
	# deletes the pods, then stops the daemon) but not the daemon itself.
	setsid "$MA_BIN" daemon \
		--containerd-address "$MA_ADDR" \
		--containerd-namespace "$MA_NS" \
		--root-dir "$3/root" \
		--socket "$MA_SOCK" \
		--pod-logs-dir "$3/pods" \
		--cgroup-root "$MA_CGROUP_ROOT" \
		"${@:4}" >"$MA_LOG" 2>&1 </dev/null &
	MA_DAEMON_PID=$!
	if [ -z "${MA_STOP_REGISTERED:-}" ]; then
		ma_on_exit ma_stop_daemon
		MA_STOP_REGISTERED=1
	fi
	for i in $(seq 1 150); do
		"$MA_BIN" --socket "$MA_SOCK" get node -o json >/dev/null 2>&1 && return 0
		kill -0 "$MA_DAEMON_PID" 2>/dev/null || ma_die "daemon exited (log: $MA_LOG)"
		[ "$i" = 150 ] && ma_die "daemon did not answer on $MA_SOCK within 30s"
		sleep 0.2
	done
}

# ma_stop_daemon: delete the running daemon's pods (grace period 0), then stop
# it by its PID: SIGTERM, SIGKILL after 10 s. Nothing when none runs.
ma_stop_daemon() {
	local pid=$MA_DAEMON_PID p
	MA_DAEMON_PID=
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	for p in $("$MA_BIN" --socket "$MA_SOCK" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
		"$MA_BIN" --socket "$MA_SOCK" delete pod "${p#*/}" -n "${p%%/*}" --grace-period 0 --wait=true >/dev/null 2>&1 || true
	done
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
}

# ma_tail_log_on_failure [EXCLUDE]: when the script fails, show the last 30
# lines of the latest daemon log, without lines matching the regexp EXCLUDE.
ma_tail_log_on_failure() {
	[ "$MA_RC" != 0 ] && [ -n "$MA_LOG" ] && [ -f "$MA_LOG" ] || return 0
	echo "--- last lines of the daemon log ($MA_LOG) ---" >&2
	if [ -n "${1:-}" ]; then
		grep -v -e "$1" "$MA_LOG" | tail -n 30 >&2
	else
		tail -n 30 "$MA_LOG" >&2
	fi
}

# ma_keep_log FILE: copy the latest daemon log to FILE; nothing if FILE is empty.
ma_keep_log() {
	[ -n "$1" ] && [ -n "$MA_LOG" ] && [ -f "$MA_LOG" ] || return 0
	cp "$MA_LOG" "$1"
}

# ma_build_helpers DIR [SRC]: builds the daemon's programs from the source
# tree SRC (default the repository) into DIR, next to a miniagent binary
# built there: miniagent-cli (the full client, which miniagent execs for
# every verb but the quick `get pods`), miniagent-daemon (the agent itself, which `miniagent daemon`
# execs), miniagent-crilog (the log process of --container-log-mode=process)
# and miniagent-exec (the exec probe server, static C), each only if SRC has
# its source (older revisions lack one; before miniagent-daemon, the
# miniagent binary was the daemon too).
ma_build_helpers() {
	local dir=$1 src=${2:-$MA_REPO}
	if [ -d "$src/cmd/miniagent-cli" ]; then
		(cd "$src" && go build -o "$dir/miniagent-cli" ./cmd/miniagent-cli)
	fi
	if [ -d "$src/cmd/miniagent-daemon" ]; then
		(cd "$src" && go build -o "$dir/miniagent-daemon" ./cmd/miniagent-daemon)
	fi
	if [ -d "$src/cmd/miniagent-crilog" ]; then
		(cd "$src" && go build -o "$dir/miniagent-crilog" ./cmd/miniagent-crilog)
	fi
	if [ -f "$src/runtime/containerd/execserver/execserver.c" ]; then
		gcc -static -Os -s -Wall -o "$dir/miniagent-exec" "$src/runtime/containerd/execserver/execserver.c"
		chmod 0755 "$dir/miniagent-exec"
	fi
}
