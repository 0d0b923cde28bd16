#!/usr/bin/env bash
# test-install.sh - checks scripts/install.sh in throw-away --root directories
# (never the real /usr/local, /etc or services): files and modes, the unit
# through `systemd-analyze verify`, the config flags through the daemon's own
# flag parser, the message on a host without systemd, a kept config, a second
# install, uninstall and uninstall --purge. Called by scripts/test.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INSTALL=$REPO/scripts/install.sh
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

WORK=$(mktemp -d /tmp/miniagent-install-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
ok() { printf 'ok: %s\n' "$*"; }

# expect_mode ROOT PATH MODE TYPE: PATH under ROOT has octal MODE and stat TYPE.
expect_mode() {
	local got
	got=$(stat -c '%a %F' "$1$2" 2>/dev/null) || { fail "$2: missing"; return; }
	[ "$got" = "$3 $4" ] || fail "$2: $got, want $3 $4"
}

# files ROOT: every file and symlink under ROOT except the host's units copied in.
files() { (cd "$1" && find . \( -type f -o -type l \) -not -path './usr/lib/systemd/system/*' | sort); }

# verify ROOT: systemd-analyze verify of the installed unit; any output is a
# failure (a bad value is only a warning with exit status 0).
verify() {
	local out rc=0
	out=$(systemd-analyze verify --root="$1" miniagent.service 2>&1) || rc=$?
	[ "$rc" = 0 ] && [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}

command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed"; exit 1; }

# --- install into a fresh root ----------------------------------------------
R=$WORK/root
mkdir -p "$R"
out=$(bash "$INSTALL" --root "$R" 2>&1) || { printf '%s\n' "$out"; fail "install exited non-zero"; }
printf '%s\n' "$out" | sed 's/^/    | /'

for f in "$REPO"/bin/miniagent*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	n=$(basename "$f")
	expect_mode "$R" "/usr/local/bin/$n" 755 "regular file"
	cmp -s "$f" "$R/usr/local/bin/$n" || fail "/usr/local/bin/$n differs from bin/$n"
done
[ -x "$R/usr/local/bin/miniagent-crilog" ] || fail "miniagent-crilog not installed"
[ -x "$R/usr/local/bin/miniagent-daemon" ] || fail "miniagent-daemon not installed"
[ -x "$R/usr/local/bin/miniagent-cli" ] || fail "miniagent-cli not installed"
expect_mode "$R" /etc/miniagent 755 directory
expect_mode "$R" /etc/miniagent/config 644 "regular file"
expect_mode "$R" /etc/miniagent/manifests 755 directory
expect_mode "$R" /etc/systemd/system/miniagent.service 644 "regular file"
link=$(readlink "$R/etc/systemd/system/multi-user.target.wants/miniagent.service" || true)
[ "$link" = /etc/systemd/system/miniagent.service ] || fail "not enabled offline: wants link is \"$link\""
ok "files and modes"

unit=$R/etc/systemd/system/miniagent.service
for want in 'Wants=network-online.target' 'After=network-online.target containerd.service' \
	'Requires=containerd.service' 'EnvironmentFile=/etc/miniagent/config' \
	'ExecStart=/usr/local/bin/miniagent daemon $MINIAGENT_ARGS' 'Restart=always' 'RestartSec=10' \
	'KillMode=process' 'WantedBy=multi-user.target'; do
	grep -qxF "$want" "$unit" || fail "unit lacks the line $want"
done
ok "unit lines"

# The config's flags go through the daemon's own parser: a bad --v is the
# first check after parsing, so its error (and no other) proves every flag in
# the file is known; the daemon exits before it touches containerd.
(
	# shellcheck disable=SC1091
	. "$R/etc/miniagent/config"
	# shellcheck disable=SC2086 # split like systemd's $MINIAGENT_ARGS
	err=$("$R/usr/local/bin/miniagent" daemon $MINIAGENT_ARGS --v=nonsense 2>&1) && exit 1
	case $err in "error: --v:"*) exit 0 ;; *) printf '%s\n' "$err"; exit 1 ;; esac
) || fail "the daemon does not accept the config's MINIAGENT_ARGS"
grep -q -- '--pod-manifest-path /etc/miniagent/manifests' "$R/etc/miniagent/config" ||
	fail "config does not point the daemon at /etc/miniagent/manifests"
ok "config flags parse"

# Not the running system: not started, and the exact commands to do it by hand.
printf '%s\n' "$out" | grep -q 'installing into --root .*: not started' || fail "no \"not started\" message"
printf '%s\n' "$out" | grep -qF "setsid sh -c '. /etc/miniagent/config && echo \$\$ >/run/miniagent/agent.pid && exec /usr/local/bin/miniagent daemon \$MINIAGENT_ARGS'" ||
	fail "no manual start command"
printf '%s\n' "$out" | grep -qF 'kill -TERM "$(cat /run/miniagent/agent.pid)"' || fail "no stop command"
ok "message without systemd"

# systemd-analyze verify against a real unit set (the host's, copied into the
# root, as on a target system): containerd.service, the targets, ExecStart.
mkdir -p "$R/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$R/usr/lib/systemd/"
if verify "$R"; then ok "systemd-analyze verify"; else fail "systemd-analyze verify reported problems"; fi
mv "$R/usr/local/bin/miniagent" "$WORK/miniagent.away"
if verify "$R" >/dev/null; then fail "verify passes without the ExecStart binary: the check cannot fail"; fi
mv "$WORK/miniagent.away" "$R/usr/local/bin/miniagent"

# --- a second install keeps an edited config --------------------------------
printf '# edited by the user\n' >>"$R/etc/miniagent/config"
cp "$R/etc/miniagent/config" "$WORK/config.edited"
cp "$unit" "$WORK/unit.first"
out=$(bash "$INSTALL" --root "$R" --no-build 2>&1) || { printf '%s\n' "$out"; fail "second install exited non-zero"; }
cmp -s "$R/etc/miniagent/config" "$WORK/config.edited" || fail "second install changed the config"
printf '%s\n' "$out" | grep -q '/etc/miniagent/config exists: kept' || fail "second install does not say the config is kept"
cmp -s "$unit" "$WORK/unit.first" || fail "second install wrote a different unit"
verify "$R" || fail "verify after the second install"
[ -z "$(find "$R" -name '*.new' -o -name 'config.*' -o -name 'miniagent.service.*')" ] || fail "temporary files left behind"
ok "second install: config kept, same unit"

# A config there before the first install is never replaced either.
R2=$WORK/root2
mkdir -p "$R2/etc/miniagent"
printf 'MINIAGENT_ARGS="--containerd-address /run/other.sock"\n' >"$R2/etc/miniagent/config"
cp "$R2/etc/miniagent/config" "$WORK/config.mine"
bash "$INSTALL" --root "$R2" --no-build >/dev/null 2>&1 || fail "install over an existing config exited non-zero"
cmp -s "$R2/etc/miniagent/config" "$WORK/config.mine" || fail "install replaced a config it did not write"
ok "existing config never overwritten"

# --- uninstall keeps the config and the agent's root directory ---------------
mkdir -p "$R/var/lib/miniagent/pods"
touch "$R/var/lib/miniagent/pods/checkpoint" "$R/etc/miniagent/manifests/pod.yaml"
bash "$INSTALL" --root "$R" --prefix /opt uninstall >/dev/null 2>&1 && fail "uninstall with the wrong --prefix succeeded"
out=$(bash "$INSTALL" --root "$R" uninstall 2>&1) || { printf '%s\n' "$out"; fail "uninstall exited non-zero"; }
printf '%s\n' "$out" | sed 's/^/    | /'
left=$(files "$R" | tr '\n' ' ')
[ "$left" = "./etc/miniagent/config ./etc/miniagent/manifests/pod.yaml ./var/lib/miniagent/pods/checkpoint " ] ||
	fail "uninstall left: $left"
bash "$INSTALL" --root "$R" uninstall >/dev/null 2>&1 || fail "a second uninstall exited non-zero"
ok "uninstall keeps only the config, manifests and root dir"

# --- uninstall --purge leaves nothing ----------------------------------------
bash "$INSTALL" --root "$R" --no-build >/dev/null 2>&1 || fail "reinstall exited non-zero"
out=$(bash "$INSTALL" --root "$R" --purge uninstall 2>&1) || { printf '%s\n' "$out"; fail "uninstall --purge exited non-zero"; }
left=$(files "$R" | tr '\n' ' ')
[ -z "$left" ] || fail "uninstall --purge left: $left"
[ ! -e "$R/etc/miniagent" ] || fail "uninstall --purge kept /etc/miniagent"
[ ! -e "$R/var/lib/miniagent" ] || fail "uninstall --purge kept /var/lib/miniagent"
ok "uninstall --purge leaves nothing"

# --- bad arguments name the field ----------------------------------------------
err=$(bash "$INSTALL" --root "$R" --prefix usr 2>&1) && fail "relative --prefix accepted"
[[ $err == *'--prefix "usr": must be an absolute path'* ]] || fail "relative --prefix: $err"
err=$(bash "$INSTALL" --root "$R" --purge 2>&1) && fail "install --purge accepted"
[[ $err == *'--purge is an uninstall option'* ]] || fail "install --purge: $err"
err=$(bash "$INSTALL" --root "$R" reinstall 2>&1) && fail "unknown verb accepted"
[[ $err == *'unknown argument "reinstall"'* ]] || fail "unknown verb: $err"
ok "bad arguments"

if [ "$fails" -gt 0 ]; then
	echo "test-install.sh: $fails failure(s)"
	exit 1
fi
echo "test-install.sh: all checks passed"
