#!/usr/bin/env bash
# setup.sh - get a machine ready to run miniagent. Idempotent; run as root.
#
#   1. installs whatever of containerd, runc, busybox-static, iproute2 is missing
#   2. makes sure a containerd answers on $MINIAGENT_CONTAINERD_ADDRESS
#      (reuses a running one; else starts it via systemd when PID 1 is systemd,
#      else starts its own daemon in the background with its own config)
#   3. builds bin/miniagent (the client), bin/miniagent-daemon (the agent,
#      which `miniagent daemon` execs), bin/miniagent-crilog and bin/miniagent-exec
#      (the exec probe server, C: gcc -static)
#   4. builds the busybox OCI image (bin/busybox-image.tar) and imports it into
#      the containerd namespace $MINIAGENT_NAMESPACE
#
# Environment:
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#   MINIAGENT_NAMESPACE           containerd namespace for images (default miniagent)
#   MINIAGENT_SKIP_APT=1          never call apt-get (fail if something is missing)
#
#   setup.sh stop-containerd      stops a containerd this script started
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
NS=${MINIAGENT_NAMESPACE:-miniagent}
LOGDIR=/var/log/miniagent
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

# Where a containerd started by this script keeps its files. The default
# socket gets the standard directories; any other socket gets directories
# named after the socket's directory, so a second daemon never shares state.
if [ "$ADDR" = /run/containerd/containerd.sock ]; then
	CTD_NAME=containerd
	CTD_ROOT=/var/lib/containerd
	CTD_STATE=/run/containerd
else
	CTD_NAME=$(basename "$(dirname "$ADDR")")
	CTD_ROOT=/var/lib/$CTD_NAME
	CTD_STATE=$(dirname "$ADDR")/state
fi
CTD_CONFIG=/etc/miniagent/$CTD_NAME.toml
CTD_LOG=$LOGDIR/$CTD_NAME.log
CTD_PID=$(dirname "$ADDR")/containerd.pid

containerd_answers() { ctr --address "$ADDR" version >/dev/null 2>&1; }

stop_containerd() {
	if [ ! -f "$CTD_PID" ]; then
		info "no $CTD_PID: nothing started by setup.sh on $ADDR"
		return 0
	fi
	local pid
	pid=$(cat "$CTD_PID")
	if kill -0 "$pid" 2>/dev/null && grep -q containerd "/proc/$pid/comm"; then
		info "stopping containerd pid $pid ($ADDR)"
		kill -TERM "$pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	fi
	rm -f "$CTD_PID"
}

if [ "${1:-}" = stop-containerd ]; then
	stop_containerd
	exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
mkdir -p "$LOGDIR" "$REPO/bin"

# --- 1. packages -------------------------------------------------------------
step "packages: containerd runc busybox-static iproute2 gcc libc6-dev"
missing=()
for pkg in containerd runc busybox-static iproute2 gcc libc6-dev; do
	if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
		info "$pkg: installed"
	else
		missing+=("$pkg")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "${MINIAGENT_SKIP_APT:-}" != 1 ] || die "missing packages: ${missing[*]} (MINIAGENT_SKIP_APT=1)"
	info "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || die "Go is not installed (need go >= $(sed -n 's/^go //p' "$REPO/go.mod") on PATH)"

# --- 2. containerd -------------------------------------------------------------
step "containerd at $ADDR"
if containerd_answers; then
	info "already running: $(ctr --address "$ADDR" version 2>/dev/null | awk '/Server:/{s=1} s&&/Version:/{print $2; exit}')"
elif [ "$ADDR" = /run/containerd/containerd.sock ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] &&
	systemctl cat containerd.service >/dev/null 2>&1; then
	info "starting containerd.service via systemd"
	systemctl start containerd.service
else
	info "no daemon answers; starting one (config $CTD_CONFIG, log $CTD_LOG)"
	mkdir -p "$(dirname "$CTD_CONFIG")" "$CTD_ROOT" "$CTD_STATE" "$(dirname "$ADDR")"
	cat >"$CTD_CONFIG" <<EOF
# Written by miniagent scripts/setup.sh. containerd without the CRI plugin:
# miniagent drives containerd directly through its client API.
version = 2
root = "$CTD_ROOT"
state = "$CTD_STATE"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$ADDR"

[ttrpc]
  address = "$ADDR.ttrpc"

[debug]
  level = "info"
EOF
	# No init system to rely on: detach into its own session, survive this shell.
	setsid nohup containerd --config "$CTD_CONFIG" >>"$CTD_LOG" 2>&1 </dev/null &
	echo $! >"$CTD_PID"
fi
for i in $(seq 1 150); do
	containerd_answers && break
	if [ "$i" = 150 ]; then
		printf 'setup.sh: error: containerd did not answer on %s within 30s; last lines of %s:\n' "$ADDR" "$CTD_LOG" >&2
		tail -n 20 "$CTD_LOG" >&2 2>/dev/null || true
		exit 1
	fi
	sleep 0.2
done
info "containerd answers on $ADDR"

# --- 3. miniagent binary ---------------------------------------------------------
step "build bin/miniagent"
# One go build for the four: their packages compile in parallel.
(cd "$REPO" && go build -o bin/ ./cmd/miniagent ./cmd/miniagent-cli ./cmd/miniagent-daemon ./cmd/miniagent-crilog)
info "$REPO/bin/miniagent $REPO/bin/miniagent-cli $REPO/bin/miniagent-daemon"
# The exec server is bind-mounted into containers: static, so it runs on any
# image; built to a temporary name and renamed, so running containers keep
# the file they mounted.
gcc -static -Os -s -Wall -o "$REPO/bin/miniagent-exec.tmp" "$REPO/runtime/containerd/execserver/execserver.c"
chmod 0755 "$REPO/bin/miniagent-exec.tmp"
mv -f "$REPO/bin/miniagent-exec.tmp" "$REPO/bin/miniagent-exec"
info "$REPO/bin/miniagent-exec"

# --- 4. busybox image ------------------------------------------------------------
step "busybox image into containerd namespace $NS"
bash "$REPO/scripts/build-busybox-image.sh" "$REPO/bin/busybox-image.tar"
"$REPO/bin/miniagent" image import "$REPO/bin/busybox-image.tar" \
	--containerd-address "$ADDR" --containerd-namespace "$NS"

step "setup done"
