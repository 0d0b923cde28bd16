#!/usr/bin/env bash
# build-busybox-image.sh OUT.tar
#
# Builds a tiny OCI image-layout tar (oci-layout, index.json, blobs/sha256/...)
# from the host's statically linked /bin/busybox (Debian: busybox-static), so
# miniagent has an image without any registry. The result is deterministic:
# fixed mtimes, owners and file order, gzip without name/timestamp, so the
# digests only change when the busybox binary changes.
#
# The image is named docker.io/library/busybox:latest.
set -euo pipefail

out=${1:?usage: build-busybox-image.sh OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}
epoch=0

log() { printf 'build-busybox-image: %s\n' "$*" >&2; }

[ -x "$busybox" ] || { log "no $busybox (install busybox-static)"; exit 1; }
if ! "$busybox" --list >/dev/null 2>&1; then
	log "$busybox does not support --list"; exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
	log "warning: $busybox is dynamically linked; the image will not run (install busybox-static)"
fi

case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
	amd64 | x86_64) arch=amd64 ;;
	arm64 | aarch64) arch=arm64 ;;
	armhf | armv7l) arch=arm ;;
	i386 | i686) arch=386 ;;
	ppc64el | ppc64le) arch=ppc64le ;;
	s390x) arch=s390x ;;
	riscv64) arch=riscv64 ;;
	*) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
layout=$work/layout
mkdir -p "$root"/{bin,etc,root,tmp,var/www} "$layout/blobs/sha256"

# --- root filesystem -------------------------------------------------------
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
"$busybox" --list | sort -u | while read -r applet; do
	[ -n "$applet" ] && [ "$applet" != busybox ] || continue
	ln -s busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
EOF
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chmod 0755 "$root/bin" "$root/etc" "$root/var" "$root/var/www"
chmod 0644 "$root"/etc/*

# --- layer -----------------------------------------------------------------
# GNU tar with sorted names, fixed mtime and numeric root ownership.
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
	--format=gnu -C "$root" -cf "$work/layer.tar" bin etc root tmp var
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$layout/blobs/sha256/$layer_digest"

# put writes stdin to a blob and prints "<digest> <size>".
put() {
	local tmp=$work/blob d s
	cat >"$tmp"
	d=$(sha256sum "$tmp" | cut -d' ' -f1)
	s=$(stat -c %s "$tmp")
	mv "$tmp" "$layout/blobs/sha256/$d"
	echo "$d $s"
}

# --- config and manifest (compact JSON, fixed field order) -----------------
read -r config_digest config_size < <(printf '%s' \
	'{"architecture":"'"$arch"'","os":"linux","created":"1970-01-01T00:00:00Z",' \
	'"config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},' \
	'"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},' \
	'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"miniagent scripts/build-busybox-image.sh"}]}' | put)

read -r manifest_digest manifest_size < <(printf '%s' \
	'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",' \
	'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config_digest"'","size":'"$config_size"'},' \
	'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$layer_digest"'","size":'"$layer_size"'}]}' | put)

printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '%s' \
	'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' \
	'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest_digest"'","size":'"$manifest_size"',' \
	'"platform":{"architecture":"'"$arch"'","os":"linux"},' \
	'"annotations":{"io.containerd.image.name":"docker.io/library/busybox:latest","org.opencontainers.image.ref.name":"latest"}}]}' \
	>"$layout/index.json"

# --- the layout tar, deterministic too -------------------------------------
mkdir -p "$(dirname "$out")"
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
	--format=gnu -C "$layout" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
log "wrote $out (manifest sha256:$manifest_digest, $arch, $(wc -l <<<"$("$busybox" --list)") applets)"
