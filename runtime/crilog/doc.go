// Package crilog reads and writes container log files in the CRI format the
// kubelet uses under /var/log/pods: one record per line,
//
//	<RFC3339Nano UTC timestamp> <stdout|stderr> <F|P> <content>\n
//
// where F marks a complete line and P a partial one (split because it was
// longer than MaxLineSize, or because the stream ended without a newline).
//
// Two writers exist. In the agent's log mode the containerd shim appends a
// container's raw stdout and stderr to a spool of two plain files
// (CreateSpool) and the agent's Tailer turns them into records, committing
// how far it got, so nothing is lost across agent restarts.
//
// In the process log mode the writer side runs in a small log process (ShimMain) that containerd's
// runc shim starts through its binary log driver: the container's stdout
// arrives on fd 3, stderr on fd 4, and fd 5 is closed once the process is
// ready. Because that process is a child of the containerd shim, logs keep
// flowing while the agent itself is down.
package crilog
