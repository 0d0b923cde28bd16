// Package apivolume makes the pod volumes whose content comes from the
// Kubernetes API server, in cluster mode: configMap, secret, downwardAPI
// and projected (serviceAccountToken, configMap, secret and downwardAPI
// sources), as the kubelet's volume plugins of the same names do.
//
// payload.go turns a volume and the objects it names into the files to
// write (pure, with the keys, items, modes and optional of the spec).
// writer.go writes them the way the kubelet's atomic writer does: the files
// live in a timestamped directory "..<time>", "..data" is a symlink to it
// and every top-level name is a symlink through "..data", so a container
// never sees half an update. manager.go keeps, per pod, a goroutine that
// refreshes the volumes: service account tokens (TokenRequest, bound to
// the pod) before 80 % of their lifetime has passed, configMaps and
// secrets every Period (the kubelet's default sync is about a minute).
//
// secret and projected volumes are tmpfs mounts (memory-backed, so
// credentials never reach the disk); configMap and downwardAPI volumes are
// plain directories. All of them live under the pod's directory and are
// removed with it; containers mount them read-only.
package apivolume
