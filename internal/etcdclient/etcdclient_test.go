package etcdclient

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hindsight-dev/hindsight/internal/etcdembed"
)

func TestDialNeedsAnEndpoint(t *testing.T) {
	_, err := Dial(" , ", time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "--etcd-endpoints") {
		t.Fatalf("want an error naming --etcd-endpoints, got %v", err)
	}
}

func TestDialReachesEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := etcdembed.Start(ctx, etcdembed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := Dial(strings.Join(e.Endpoints(), ","), 5*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
}
