package main

import (
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/server"
	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
	gatewayapi "github.com/hindsight-dev/hindsight/services/gateway/api"
	topologyapi "github.com/hindsight-dev/hindsight/services/topology/api"
	"github.com/hindsight-dev/hindsight/services/topology/graph"
	topologyweb "github.com/hindsight-dev/hindsight/web/topology"
)

// setupTopology serves the topology service on the process's gRPC port, with
// the split binary's defaults (the graph lives in memory: a restart starts it
// empty, as for the topology binary).
func setupTopology(s *server.Server) error {
	svc, err := topologyapi.New(topologyapi.Options{Aggregator: graph.New(graph.Options{}), Log: s.Log, Registerer: s.Registry})
	if err != nil {
		return err
	}
	topologyv1.RegisterTopologyServiceServer(s.GRPC, svc)
	s.Health.SetServingStatus(topologyv1.TopologyService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return nil
}

// mountTopologyPage serves the live topology page at /topology/.
func mountTopologyPage(gw *gatewayapi.Gateway) error { return topologyweb.Mount(gw, "/topology/") }
