#!/usr/bin/env bash
# install.sh - install miniagent on a host as a systemd service, or remove it.
#
#   install.sh [OPTIONS] [install]   binaries into PREFIX/bin, /etc/miniagent/config
#                                    (only if absent), /etc/miniagent/manifests,
#                                    /etc/systemd/system/miniagent.service; enables
#                                    and (re)starts it where systemd runs
#   install.sh [OPTIONS] uninstall   stops and disables the service, removes the unit
#                                    and the binaries; keeps /etc/miniagent and the
#                                    agent's --root-dir unless --purge
#
# Options:
#   --prefix DIR              install prefix (default /usr/local)
#   --root DIR                install into DIR as if it were / (an image, a test);
#                             never touches the running system's services
#   --containerd-address SOCK written into a new config (default
#                             /run/containerd/containerd.sock)
#   --no-build                install bin/miniagent* as they are (default: build
#                             cmd/miniagent* into bin/ first when Go is on PATH)
#   --purge                   uninstall: also remove /etc/miniagent/config, the
#                             manifest directory and the agent's --root-dir
#
# Running it twice is fine: binaries and the unit are replaced, the config is
# kept, the service is restarted (pods keep running: KillMode=process).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

PREFIX=/usr/local
ROOT=/
ADDR=/run/containerd/containerd.sock
BUILD=1
PURGE=0
ACTION=install
UNIT_NAME=miniagent.service

die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
info() { printf '    %s\n' "$*"; }
step() { printf '==> %s\n' "$*"; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
	--prefix=*) PREFIX=${1#*=}; shift ;;
	--root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
	--root=*) ROOT=${1#*=}; shift ;;
	--containerd-address) [ $# -ge 2 ] || die "--containerd-address needs a socket path"; ADDR=$2; shift 2 ;;
	--containerd-address=*) ADDR=${1#*=}; shift ;;
	--no-build) BUILD=0; shift ;;
	--purge) PURGE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	install | uninstall) ACTION=$1; shift ;;
	*) die "unknown argument \"$1\" (see --help)" ;;
	esac
done

case $PREFIX in /*) ;; *) die "--prefix \"$PREFIX\": must be an absolute path" ;; esac
case $ADDR in /*) ;; *) die "--containerd-address \"$ADDR\": must be an absolute path" ;; esac
case $PREFIX$ADDR in *[[:space:]\"\$\\]*) die "--prefix and --containerd-address must not contain spaces, quotes, \$ or \\" ;; esac
[ -d "$ROOT" ] || die "--root \"$ROOT\": no such directory"
ROOT=$(cd "$ROOT" && pwd -P)
[ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge is an uninstall option"
if [ "$ROOT" = / ]; then
	[ "$(id -u)" = 0 ] || die "run as root (sudo $0), or give --root DIR"
	R=
else
	R=$ROOT
fi

# Paths on the target system (what the unit and the config name), and the
# same paths as this script writes them ($R prefixed).
BINDIR=$PREFIX/bin
ETC=/etc/miniagent
CONFIG=$ETC/config
MANIFESTS=$ETC/manifests
UNIT=/etc/systemd/system/$UNIT_NAME
PIDFILE=/run/miniagent/agent.pid
LOG=/var/log/miniagent/agent.log

# systemd_manages: this install is the running system's and systemd is PID 1.
systemd_manages() { [ -z "$R" ] && [ -d /run/systemd/system ]; }

no_systemd_reason() {
	if [ -n "$R" ]; then
		echo "installing into --root $ROOT, not the running system"
	else
		echo "systemd is not running on this host (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown))"
	fi
}

# write_file DEST MODE: stdin to DEST atomically (temp file + rename), so a
# running binary or a reader never sees a half-written file.
write_file() {
	local dest=$1 mode=$2 tmp
	tmp=$(mktemp "$dest.XXXXXX")
	cat >"$tmp"
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$dest"
}

build() {
	local dir name
	if [ "$BUILD" = 0 ]; then
		info "--no-build: installing $REPO/bin/miniagent* as they are"
		return
	fi
	if ! command -v go >/dev/null; then
		info "Go is not on PATH: installing $REPO/bin/miniagent* as they are"
		return
	fi
	mkdir -p "$REPO/bin"
	for dir in "$REPO"/cmd/miniagent*/; do
		name=$(basename "$dir")
		info "go build -o bin/$name ./cmd/$name"
		(cd "$REPO" && go build -o "bin/$name" "./cmd/$name")
	done
	# The exec probe server is C (static), bind-mounted into containers.
	if command -v gcc >/dev/null; then
		info "gcc -static -o bin/miniagent-exec runtime/containerd/execserver/execserver.c"
		gcc -static -Os -s -Wall -o "$REPO/bin/miniagent-exec.tmp" "$REPO/runtime/containerd/execserver/execserver.c"
		chmod 0755 "$REPO/bin/miniagent-exec.tmp"
		mv -f "$REPO/bin/miniagent-exec.tmp" "$REPO/bin/miniagent-exec"
	else
		info "gcc is not on PATH: exec probes will use runc exec unless bin/miniagent-exec exists"
	fi
}

# binaries prints every bin/miniagent* regular executable file.
binaries() {
	local f
	for f in "$REPO"/bin/miniagent*; do
		[ -f "$f" ] && [ -x "$f" ] && printf '%s\n' "$f"
	done
	return 0
}

write_config() {
	if [ -e "$R$CONFIG" ]; then
		info "$CONFIG exists: kept as it is"
		return
	fi
	write_file "$R$CONFIG" 0644 <<EOF
# Flags of the miniagent daemon (miniagent daemon --help lists them all).
# Read by $UNIT_NAME (EnvironmentFile=) and by the manual start command
# scripts/install.sh prints on hosts without systemd. Written once by
# scripts/install.sh and never overwritten: edit it, then
# \`systemctl restart miniagent\` (running pods are kept).
MINIAGENT_ARGS="--containerd-address $ADDR --containerd-namespace miniagent --root-dir /var/lib/miniagent --socket /run/miniagent/miniagent.sock --pod-manifest-path $MANIFESTS --pod-logs-dir /var/log/pods --cgroup-root miniagent"
EOF
	info "wrote $CONFIG"
}

# The unit follows kubelet's (Restart=always, RestartSec=10, no start limit,
# after the network). KillMode=process: a stop or restart signals only the
# agent, never another process left in its cgroup, so whatever a pod needs
# survives like with containerd's own unit. No Delegate=: the pod cgroups are
# created by runc under /<cgroup-root> at the top of each hierarchy, never
# below miniagent.service's cgroup, so the unit has no subtree to delegate
# (kubelet's unit has none either). OOMScoreAdjust=-999 is kubelet's default
# --oom-score-adj: the agent is not what the OOM killer should pick.
write_unit() {
	write_file "$R$UNIT" 0644 <<EOF
# Written by miniagent scripts/install.sh; replaced on every install.
# Flags: $CONFIG.
[Unit]
Description=miniagent: a kubelet-like node agent on containerd
Documentation=https://github.com/miniagent/miniagent
Wants=network-online.target
After=network-online.target containerd.service
Requires=containerd.service
StartLimitIntervalSec=0

[Service]
Type=exec
EnvironmentFile=$CONFIG
ExecStart=$BINDIR/miniagent daemon \$MINIAGENT_ARGS
Restart=always
RestartSec=10
KillMode=process
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
EOF
	info "wrote $UNIT"
}

print_manual_start() {
	cat <<EOF
    start it by hand (its log: $LOG):
      mkdir -p $(dirname "$PIDFILE") $(dirname "$LOG") && setsid sh -c '. $CONFIG && echo \$\$ >$PIDFILE && exec $BINDIR/miniagent daemon \$MINIAGENT_ARGS' >>$LOG 2>&1 </dev/null &
    stop it (its pods keep running and are re-adopted by the next start):
      kill -TERM "\$(cat $PIDFILE)"
EOF
}

do_install() {
	local f n=0
	step "binaries into $BINDIR${R:+ under $ROOT}"
	build
	mkdir -p "$R$BINDIR"
	while IFS= read -r f; do
		install -m 0755 "$f" "$R$BINDIR/$(basename "$f").new"
		mv -f "$R$BINDIR/$(basename "$f").new" "$R$BINDIR/$(basename "$f")"
		info "$BINDIR/$(basename "$f")"
		n=$((n + 1))
	done < <(binaries)
	[ "$n" -gt 0 ] || die "no $REPO/bin/miniagent* to install (build them: bash scripts/setup.sh, or drop --no-build)"
	[ -x "$R$BINDIR/miniagent" ] || die "$REPO/bin/miniagent is missing"

	step "configuration in $ETC"
	install -d -m 0755 "$R$ETC" "$R$MANIFESTS" "$R/etc/systemd/system"
	write_config
	write_unit

	step "service $UNIT_NAME"
	if systemd_manages; then
		systemctl daemon-reload
		systemctl enable "$UNIT_NAME"
		# restart, not start: a second install runs the new binaries.
		systemctl restart "$UNIT_NAME"
		info "enabled and started: systemctl status miniagent; journalctl -u miniagent"
		return
	fi
	info "$(no_systemd_reason): not started"
	if command -v systemctl >/dev/null; then
		systemctl --root="$ROOT" enable "$UNIT_NAME"
		info "enabled offline: it starts when the system boots with systemd"
	fi
	print_manual_start
}

# root_dir_of_config prints the --root-dir the config gives the daemon
# (the daemon's default if it gives none).
root_dir_of_config() {
	local args=
	# shellcheck disable=SC1090 # the config is ours, a shell-compatible env file
	[ -f "$R$CONFIG" ] && args=$(. "$R$CONFIG" && printf '%s' "${MINIAGENT_ARGS:-}")
	awk -v d=/var/lib/miniagent '{for (i = 1; i <= NF; i++) {
		if ($i == "--root-dir" && i < NF) d = $(i + 1); else if ($i ~ /^--root-dir=/) d = substr($i, 12) }}
		END {print d}' <<<"$args"
}

# stop_manual stops a daemon started by the printed command (its pid file).
stop_manual() {
	local pid
	[ -z "$R" ] && [ -f "$PIDFILE" ] || return 0
	pid=$(cat "$PIDFILE")
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq "^$BINDIR/miniagent(-daemon)? daemon"; then
		info "stopping miniagent pid $pid ($PIDFILE)"
		kill -TERM "$pid"
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && die "miniagent pid $pid still runs 30s after SIGTERM"
	fi
	rm -f "$PIDFILE"
}

do_uninstall() {
	local f exec rootdir
	if [ -f "$R$UNIT" ]; then
		exec=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$R$UNIT")
		[ "$exec" = "$BINDIR/miniagent" ] ||
			die "$UNIT runs $exec, not $BINDIR/miniagent: give the --prefix it was installed with"
	fi
	step "service $UNIT_NAME"
	if systemd_manages; then
		if systemctl cat "$UNIT_NAME" >/dev/null 2>&1; then
			systemctl disable --now "$UNIT_NAME"
			info "stopped and disabled"
		fi
	else
		info "$(no_systemd_reason)"
		stop_manual
		if [ -f "$R$UNIT" ] && command -v systemctl >/dev/null; then
			systemctl --root="$ROOT" disable "$UNIT_NAME"
		fi
	fi
	# disable removes the wants link; remove it also where systemctl is absent.
	rm -f "$R$UNIT" "$R/etc/systemd/system/multi-user.target.wants/$UNIT_NAME"
	systemd_manages && systemctl daemon-reload && systemctl reset-failed "$UNIT_NAME" 2>/dev/null
	info "removed $UNIT"
	info "pods keep running without the agent; to remove them, empty $MANIFESTS and run"
	info "\`miniagent delete pods --all -n NAMESPACE\` while the agent still runs, then uninstall"

	step "binaries in $BINDIR${R:+ under $ROOT}"
	for f in "$R$BINDIR"/miniagent "$R$BINDIR"/miniagent-*; do
		[ -f "$f" ] || continue
		rm -f "$f"
		info "removed ${f#"$R"}"
	done

	step "configuration"
	if [ "$PURGE" = 0 ]; then
		info "kept $ETC and the agent's root directory (--purge removes them)"
		return
	fi
	rootdir=$(root_dir_of_config)
	case $rootdir in
	/ | /etc | /usr | /var | /var/lib | "" | *..*) die "will not purge --root-dir \"$rootdir\" named in $CONFIG" ;;
	/*) ;;
	*) die "--root-dir \"$rootdir\" in $CONFIG is not absolute: not purged" ;;
	esac
	rm -rf "$R$rootdir" "$R$MANIFESTS"
	rm -f "$R$CONFIG"
	info "removed $CONFIG, $MANIFESTS, $rootdir"
	if rmdir "$R$ETC" 2>/dev/null; then
		info "removed $ETC"
	elif [ -d "$R$ETC" ]; then
		info "kept $ETC: it holds files install.sh did not write ($(ls -A "$R$ETC" | tr '\n' ' '))"
	fi
}

"do_$ACTION"
