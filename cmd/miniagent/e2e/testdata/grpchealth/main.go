// Command grpchealth is a tiny grpc.health.v1 server for the end-to-end
// gRPC probe tests. It is built statically by the test and bind-mounted
// into a busybox container.
//
// The overall service "" is SERVING. The service named by -service is
// SERVING only while the file named by -ok-file exists (checked on every
// Check call; without -ok-file it is always SERVING). Any other service is
// NOT_FOUND, as in grpc-go's own health server. SIGUSR1 toggles every
// service between its normal status and NOT_SERVING.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// server answers Check from the flags, the ok file and the SIGUSR1 toggle.
type server struct {
	healthpb.UnimplementedHealthServer
	service string
	okFile  string
	down    atomic.Bool // toggled by SIGUSR1
}

func (s *server) status(service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	switch service {
	case "":
	case s.service:
		if s.okFile != "" {
			if _, err := os.Stat(s.okFile); err != nil {
				return healthpb.HealthCheckResponse_NOT_SERVING, nil
			}
		}
	default:
		return 0, status.Error(codes.NotFound, "unknown service")
	}
	if s.down.Load() {
		return healthpb.HealthCheckResponse_NOT_SERVING, nil
	}
	return healthpb.HealthCheckResponse_SERVING, nil
}

func (s *server) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, err := s.status(req.GetService())
	if err != nil {
		return nil, err
	}
	log.Printf("check %q: %v", req.GetService(), st)
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

func main() {
	port := flag.Int("port", 9090, "TCP port to listen on (all addresses)")
	service := flag.String("service", "", "name of the service whose status follows -ok-file")
	okFile := flag.String("ok-file", "", "the named service is SERVING only while this file exists")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("grpchealth: ")

	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	s := &server{service: *service, okFile: *okFile}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			log.Printf("SIGUSR1: not serving = %v", !s.down.Load())
			s.down.Store(!s.down.Load())
		}
	}()
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, s)
	log.Printf("listening on %v", lis.Addr())
	if err := g.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
