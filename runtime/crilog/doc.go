// Package crilog reads and writes container log files in the CRI format the
// kubelet uses under /var/log/pods: one record per line,
//
//	<RFC3339Nano UTC timestamp> <stdout|stderr> <F|P> <content>\n
//
// where F marks a complete line and P a partial one (split because it was
// longer than MaxLineSize, or because the stream ended without a newline).
//
// The writer side runs in a small log process (ShimMain) that containerd's
// runc shim starts through its binary log driver: the container's stdout
// arrives on fd 3, stderr on fd 4, and fd 5 is closed once the process is
// ready. Because that process is a child of the containerd shim, logs keep
// flowing while the agent itself is down.
package crilog
