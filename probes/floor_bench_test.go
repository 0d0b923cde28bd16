package probes

import (
	"os"
	goruntime "runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkProbeFloor is the floor for the network probes: the same
// connections made with bare blocking system calls and no Go networking
// (socket in the pod's namespace, linger, connect, for HTTP a fixed request
// written and the answer read to EOF, close). What the probes cost above it
// is the agent's own work; the floor itself is mostly the kernel's TCP work
// for both ends of a loopback connection, which is charged to the caller.
func BenchmarkProbeFloor(b *testing.B) {
	for _, kind := range []string{"http", "tcp"} {
		b.Run(kind, func(b *testing.B) {
			nsPath, httpPort, tcpPort, _ := benchNetNS(b)
			port := tcpPort
			var req []byte
			if kind == "http" {
				port = httpPort
				req = []byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kube-probe/1.37\r\nAccept: */*\r\nConnection: close\r\n\r\n")
			}
			ns, err := os.Open(nsPath)
			if err != nil {
				b.Fatal(err)
			}
			defer ns.Close()
			host, err := os.Open("/proc/self/ns/net")
			if err != nil {
				b.Fatal(err)
			}
			defer host.Close()
			sa := &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}
			buf := make([]byte, 4096)
			once := func() {
				goruntime.LockOSThread()
				if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
					b.Fatal(err)
				}
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
					b.Fatal(err)
				}
				goruntime.UnlockOSThread()
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Close(fd)
				_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
				if err := unix.Connect(fd, sa); err != nil {
					b.Fatal(err)
				}
				if req == nil {
					return
				}
				if _, err := unix.Write(fd, req); err != nil {
					b.Fatal(err)
				}
				for {
					n, err := unix.Read(fd, buf)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						return
					}
				}
			}
			once()
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				once()
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/probe")
		})
	}
}
