// Package cgroups owns miniagent's pod cgroup tree on the host: the QoS and
// pod level directories under the cgroup root, their resource values, and
// their removal. It works on cgroup v1 (one hierarchy per controller), v2
// (unified) and the hybrid layout, where runc creates a container's whole
// cgroupsPath in every mounted hierarchy but removes only the leaf.
package cgroups
