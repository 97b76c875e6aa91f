package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/internal/polltest"
	"github.com/hindsight-dev/hindsight/internal/server"
	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

// instance is one all-in-one run in-process on free ports.
type instance struct {
	replay replayv1.ReplayServiceClient
	stop   func()
}

func start(t *testing.T, dataDir string, extra ...string) *instance {
	t.Helper()
	var c config
	r := servertest.Start(t, server.Binary{Name: name, Flags: &c.Flags, Bind: c.bind, Setup: c.setup},
		append([]string{"--admin-addr=", "--gateway.http-addr=127.0.0.1:0",
			"--archiver.flush-interval=1s", "--data-dir=" + dataDir}, extra...)...)
	return &instance{replay: replayv1.NewReplayServiceClient(r.Conn), stop: func() {
		if err := r.Stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}}
}

// appendLines appends n JSON events of the given day to the app dataset.
func appendLines(t *testing.T, dir string, day time.Time, from, n int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "inbox", "app", "app.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < from+n; i++ {
		ts := day.Add(time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
		fmt.Fprintf(f, `{"@timestamp":%q,"level":"info","message":"order %d created","padding":%q}`+"\n", ts, i, strings.Repeat("x", 40))
	}
}

func (in *instance) count(t *testing.T, replay string, from, to time.Time) (int64, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := in.replay.Search(ctx, &replayv1.SearchRequest{Replay: replay, Query: "message:created", From: timestamppb.New(from), To: timestamppb.New(to), PageSize: 1})
	if err != nil {
		return -1, err.Error()
	}
	return r.GetTotal(), fmt.Sprint(r.GetTotal())
}

func archived(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(filepath.Join(dir, "archive", "app"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".gz") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestPipelineAndRestart: files in a dataset folder made after the start
// become searchable live (the harvester picks the folder up without a
// restart) and are archived; a replay of their day loads them; after a restart on the same
// data directory the archive, the replay and the live index are all there,
// nothing is archived twice, and new lines still flow.
func TestPipelineAndRestart(t *testing.T) {
	dir := t.TempDir()
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	from, to := day, day.Add(24*time.Hour)

	in := start(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "inbox", "app"), 0o777); err != nil {
		t.Fatal(err)
	}
	appendLines(t, dir, day, 0, 50)
	began := time.Now()
	want := func(in *instance, replay string, n int64) func() (bool, string) {
		return func() (bool, string) { c, s := in.count(t, replay, from, to); return c == n, s }
	}
	// loaded: the replay is READY (its state saved) with n events searchable.
	loaded := func(in *instance, replay string, n int64) func() (bool, string) {
		return func() (bool, string) {
			r, err := in.replay.GetReplay(context.Background(), &replayv1.GetReplayRequest{Name: replay})
			if err != nil || r.GetState() != replayv1.State_STATE_READY {
				return false, fmt.Sprint(r.GetState(), err)
			}
			return want(in, replay, n)()
		}
	}
	polltest.Until(t, "50 events searchable live", 30*time.Second, want(in, "", 50))
	t.Logf("first events searchable live %v after start", time.Since(began).Round(time.Millisecond))
	polltest.Until(t, "the events archived", 30*time.Second, func() (bool, string) { a := archived(t, dir); return len(a) > 0, fmt.Sprint(a) })

	ctx := context.Background()
	if _, err := in.replay.CreateReplay(ctx, &replayv1.CreateReplayRequest{Replay: &replayv1.Replay{
		Name: "yesterday", Datasets: []string{"app"}, From: timestamppb.New(from), To: timestamppb.New(to)}}); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "the replay loaded", 30*time.Second, loaded(in, "yesterday", 50))
	before := archived(t, dir)
	in.stop()

	in = start(t, dir)
	r, err := in.replay.GetReplay(ctx, &replayv1.GetReplayRequest{Name: "yesterday"})
	if err != nil {
		t.Fatalf("the replay after a restart: %v", err)
	}
	if r.GetState() != replayv1.State_STATE_READY {
		t.Errorf("replay state after a restart: %v", r.GetState())
	}
	polltest.Until(t, "the replay searchable after a restart", 15*time.Second, want(in, "yesterday", 50))
	polltest.Until(t, "live search after a restart", 15*time.Second, want(in, "", 50))

	appendLines(t, dir, day, 50, 10)
	polltest.Until(t, "new lines searchable after a restart", 30*time.Second, want(in, "", 60))
	polltest.Until(t, "new lines archived after a restart", 30*time.Second, func() (bool, string) {
		a := archived(t, dir)
		return len(a) > len(before), fmt.Sprint(a)
	})
	after := archived(t, dir)
	for _, p := range before {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("archive object lost in the restart: %v", err)
		}
	}
	t.Logf("archive objects: %d before the restart, %d after new lines", len(before), len(after))
	// The archive holds every event once: a replay of the day loads 60.
	if _, err := in.replay.CreateReplay(ctx, &replayv1.CreateReplayRequest{Replay: &replayv1.Replay{
		Name: "again", Datasets: []string{"app"}, From: timestamppb.New(from), To: timestamppb.New(to)}}); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, "a second replay loaded", 30*time.Second, loaded(in, "again", 60))
	r, err = in.replay.GetReplay(ctx, &replayv1.GetReplayRequest{Name: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.GetProgress().GetEventsLoaded(); got != 60 {
		t.Errorf("second replay loaded %d events from the archive, want 60 (each once)", got)
	}
}

// TestAppFlagDefaults: every flag of every app is in the all-in-one under the
// app's name with the app's default (each binary's TestAppFlags checks the
// binary against the same app), apart from allInOneDefaults; and the limits
// that once drifted are the split services' limits.
func TestAppFlagDefaults(t *testing.T) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	new(config).bind(fs)
	got := flagenv.Defaults(fs)
	var fresh apps
	n := 0
	for prefix, bind := range fresh.binds() {
		appFlags := flag.NewFlagSet(prefix, flag.ContinueOnError)
		bind(appFlags)
		for flagName, def := range flagenv.Defaults(appFlags) {
			n++
			want := def
			if v, ok := allInOneDefaults[prefix+flagName]; ok {
				if v == def {
					t.Errorf("allInOneDefaults[%s] is the app's default %q: drop it", prefix+flagName, v)
				}
				want = v
			}
			if g, ok := got[prefix+flagName]; !ok || g != want {
				t.Errorf("--%s%s: default %q (present: %v), want %q", prefix, flagName, g, ok, want)
			}
		}
	}
	for flagName, want := range map[string]string{
		"replay.max-concurrent":                "4",
		"replay.max-events-total":              "1000000000",
		"topology.access-log-topics-regex":     `^logs\..*access.*`,
		"auth":                                 "tokens",
		"grpc-addr":                            "127.0.0.1:9090",
		"gateway.http-addr":                    "127.0.0.1:8080",
		"gateway.rate-limit":                   "0",
		"router.producer-linger":               "10ms",
		"router.producer-max-buffered-records": "50000",
		"archiver.flush-interval":              "10s",
	} {
		if got[flagName] != want {
			t.Errorf("--%s default %q, want %q", flagName, got[flagName], want)
		}
	}
	t.Logf("%d app flags, the same defaults as the split binaries but %d", n, len(allInOneDefaults))
}

// TestBeyondLoopbackNeedsTokens: on loopback the all-in-one needs no token;
// asked to listen elsewhere it creates a tokens file and an admin token in
// its data directory once (kept across restarts), and refuses calls without
// a token.
func TestBeyondLoopbackNeedsTokens(t *testing.T) {
	settle := func(dataDir string, args ...string) server.Flags {
		t.Helper()
		var c config
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		c.bind(fs)
		if err := fs.Parse(append([]string{"--data-dir=" + dataDir}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := c.Flags.Prepare(&c.Flags, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		return c.Flags
	}
	dir := t.TempDir()
	if f := settle(dir); f.Auth.Mode != "none" || f.GRPCAddr != "127.0.0.1:9090" {
		t.Fatalf("loopback defaults: auth %q on %s", f.Auth.Mode, f.GRPCAddr)
	}
	if _, err := os.Stat(filepath.Join(dir, tokensFileName)); !os.IsNotExist(err) {
		t.Fatalf("a tokens file on loopback: %v", err)
	}
	f := settle(dir, "--grpc-addr=0.0.0.0:0", "--admin-addr=")
	if f.Auth.Mode != "tokens" || f.Auth.TokensFile != filepath.Join(dir, tokensFileName) {
		t.Fatalf("beyond loopback: auth %q with %q", f.Auth.Mode, f.Auth.TokensFile)
	}
	tok, err := auth.ReadToken(filepath.Join(dir, adminTokenName))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, adminTokenName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v, want 0600", st.Mode(), err)
	}
	settle(dir, "--gateway.http-addr=:0")
	if again, _ := auth.ReadToken(filepath.Join(dir, adminTokenName)); again != tok {
		t.Fatal("a restart replaced the admin token")
	}

	s, err := server.New(name, f, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	replayv1.RegisterReplayServiceServer(s.GRPC, replayv1.UnimplementedReplayServiceServer{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	for token, want := range map[string]codes.Code{"": codes.Unauthenticated, "hst_forged": codes.Unauthenticated, tok: codes.Unimplemented} {
		conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), auth.WithToken(token))
		if err != nil {
			t.Fatal(err)
		}
		_, err = replayv1.NewReplayServiceClient(conn).ListReplays(ctx, &replayv1.ListReplaysRequest{})
		conn.Close()
		if status.Code(err) != want {
			t.Errorf("token %q: %v, want %s", token, err, want)
		}
	}
}
