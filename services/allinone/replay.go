package main

import (
	"path/filepath"

	// The all-in-one's archive is a directory under --data-dir.
	_ "gocloud.dev/blob/fileblob"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
	"github.com/hindsight-dev/hindsight/internal/server"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
	gatewayapi "github.com/hindsight-dev/hindsight/services/gateway/api"
	replayapi "github.com/hindsight-dev/hindsight/services/replay/api"
	"github.com/hindsight-dev/hindsight/services/replay/index"
	"github.com/hindsight-dev/hindsight/services/replay/index/embedded"
	"github.com/hindsight-dev/hindsight/web/timemachine"
)

// setupReplay serves the time machine: replays of the archive in
// --data-dir/archive into embedded indices in --data-dir/replays, their state
// in the embedded etcd (so loads resume after a restart).
func (c *config) setupReplay(s *server.Server, etcd *etcdembed.Etcd, dataDir string, live index.Index) error {
	emb, err := embedded.New(filepath.Join(dataDir, "replays"))
	if err != nil {
		return err
	}
	svc, err := replayapi.New(replayapi.Config{
		Etcd:          etcd.Client(),
		ArchiveURL:    "file://" + filepath.ToSlash(filepath.Join(dataDir, "archive")),
		Backends:      map[replayv1.Target_Kind]index.Backend{replayv1.Target_KIND_EMBEDDED: emb},
		DefaultTarget: replayv1.Target_KIND_EMBEDDED,
		Live:          live,
		Log:           s.Log.With("service", "replay"),
		Registerer:    s.Registry,
	})
	if err != nil {
		return err
	}
	s.OnClose(svc.Close)
	s.Go(svc.Run)
	replayv1.RegisterReplayServiceServer(s.GRPC, svc)
	s.Health.SetServingStatus(replayv1.ReplayService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return nil
}

// mountReplayPage serves the replays and search page at /replays/ and /search.
func mountReplayPage(gw *gatewayapi.Gateway) error { return timemachine.Mount(gw) }
