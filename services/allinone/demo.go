package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"
)

// demo writes logs of a few fake services into the inbox, as if their log
// files were there: some days of history at start (once per data directory),
// then live traffic; and reports the services' flows to the topology service.
type demo struct {
	inbox  string
	self   string // this process's gRPC address
	creds  grpc.DialOption
	days   int
	log    *slog.Logger
	rng    *rand.Rand
	now    func() time.Time
	reqIDs int
}

const demoHistoryPerDay = 400

var (
	demoPaths  = []string{"/", "/api/users", "/api/users/42", "/api/orders", "/api/orders/7/items", "/static/app.js", "/login", "/api/search?q=shoes"}
	demoAgents = []string{"Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0", "curl/8.5.0", "Mozilla/5.0 (Macintosh) Safari/605.1.15"}
	demoMsgs   = []struct{ level, msg string }{
		{"info", "request served"}, {"info", "user logged in"}, {"info", "order created"},
		{"debug", "cache hit"}, {"warn", "slow query"}, {"error", "redis timeout"}, {"error", "payment declined"},
	}
	demoSyslog = []string{"sshd[812]: Accepted publickey for deploy from 10.0.0.7 port 51234 ssh2", "CRON[1201]: (root) CMD (run-parts /etc/cron.hourly)",
		"kernel: TCP: request_sock_TCP: Possible SYN flooding on port 443.", "systemd[1]: Started Daily apt upgrade and clean activities.", "postgres[977]: LOG:  checkpoint complete"}
)

func (d *demo) run(ctx context.Context) error {
	if err := d.history(); err != nil {
		return err
	}
	go d.flows(ctx)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if err := d.live(); err != nil {
			d.log.Warn("demo: live logs", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *demo) nginx(t time.Time) string {
	status := 200
	switch r := d.rng.IntN(100); {
	case r < 5:
		status = 500
	case r < 12:
		status = 404
	case r < 15:
		status = 302
	}
	return fmt.Sprintf(`10.0.%d.%d - - [%s] "GET %s HTTP/1.1" %d %d "-" "%s"`, d.rng.IntN(4), 2+d.rng.IntN(250),
		t.UTC().Format("02/Jan/2006:15:04:05 -0700"), demoPaths[d.rng.IntN(len(demoPaths))], status, 200+d.rng.IntN(9000), demoAgents[d.rng.IntN(len(demoAgents))])
}

func (d *demo) app(t time.Time) string {
	m := demoMsgs[d.rng.IntN(len(demoMsgs))]
	d.reqIDs++
	b, _ := json.Marshal(map[string]any{
		"@timestamp": t.UTC().Format(time.RFC3339Nano), "level": m.level, "message": m.msg,
		"service": "api", "request_id": fmt.Sprintf("req-%06d", d.reqIDs), "duration_ms": d.rng.IntN(400),
	})
	return string(b)
}

func (d *demo) syslog(t time.Time) string {
	return fmt.Sprintf("%s web-1 %s", t.UTC().Format(time.Stamp), demoSyslog[d.rng.IntN(len(demoSyslog))])
}

// history writes the past days, one file per dataset and day, unless a
// previous start wrote them already.
func (d *demo) history() error {
	marker := filepath.Join(d.inbox, ".demo-history")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	now := d.now()
	for day := d.days; day >= 1; day-- {
		start := now.Add(-time.Duration(day) * 24 * time.Hour)
		for ds, gen := range map[string]func(time.Time) string{"nginx.access": d.nginx, "app": d.app, "syslog": d.syslog} {
			f, err := d.open(ds, "history-"+start.UTC().Format("2006-01-02")+".log")
			if err != nil {
				return err
			}
			for i := range demoHistoryPerDay {
				t := start.Add(time.Duration(i) * 24 * time.Hour / demoHistoryPerDay)
				if _, err := fmt.Fprintln(f, gen(t)); err != nil {
					f.Close()
					return err
				}
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	d.log.Info("demo: wrote the history", "days", d.days, "dir", d.inbox)
	return os.WriteFile(marker, nil, 0o666)
}

func (d *demo) open(dataset, name string) (*os.File, error) {
	dir := filepath.Join(d.inbox, dataset)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
}

// live appends a second of traffic.
func (d *demo) live() error {
	now := d.now()
	for ds, gen := range map[string]func(time.Time) string{"nginx.access": d.nginx, "app": d.app, "syslog": d.syslog} {
		f, err := d.open(ds, "live.log")
		if err != nil {
			return err
		}
		n := 5 + d.rng.IntN(10)
		if ds == "syslog" {
			n = d.rng.IntN(2)
		}
		for i := range n {
			fmt.Fprintln(f, gen(now.Add(time.Duration(i)*time.Second/time.Duration(n+1)-time.Second)))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// flows reports, every second, frontend → api → redis/postgres traffic with
// some errors, as the agent's capture would.
func (d *demo) flows(ctx context.Context) {
	cc, err := grpc.NewClient(d.self, grpc.WithTransportCredentials(insecure.NewCredentials()), d.creds)
	if err != nil {
		d.log.Warn("demo: flows", "err", err)
		return
	}
	defer cc.Close()
	cli := topologyv1.NewTopologyServiceClient(cc)
	edge := func(src, dst string, proto topologyv1.Protocol, op string, n, errPct int, lat time.Duration) []*topologyv1.Flow {
		now := timestamppb.New(d.now())
		bad := n * errPct / 100
		if d.rng.IntN(100) < n*errPct%100 {
			bad++
		}
		flow := func(st topologyv1.StatusClass, c int) *topologyv1.Flow {
			return &topologyv1.Flow{
				Source: &topologyv1.Endpoint{Service: src}, Destination: &topologyv1.Endpoint{Service: dst},
				Protocol: proto, Status: st, Operation: op, Count: int64(c),
				Latency: durationpb.New(time.Duration(c) * lat), BytesSent: int64(c * 300), BytesReceived: int64(c * 1200),
				Time: now, Origin: topologyv1.Origin_ORIGIN_REPORTED,
			}
		}
		out := []*topologyv1.Flow{flow(topologyv1.StatusClass_STATUS_CLASS_OK, n-bad)}
		if bad > 0 {
			out = append(out, flow(topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR, bad))
		}
		return out
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var fl []*topologyv1.Flow
		fl = append(fl, edge("INTERNET", "frontend", topologyv1.Protocol_PROTOCOL_HTTP, "GET /", 80+d.rng.IntN(40), 1, 15*time.Millisecond)...)
		fl = append(fl, edge("frontend", "api", topologyv1.Protocol_PROTOCOL_HTTP, "GET /api/users/{id}", 60+d.rng.IntN(20), 3, 8*time.Millisecond)...)
		fl = append(fl, edge("api", "redis", topologyv1.Protocol_PROTOCOL_REDIS, "GET", 120+d.rng.IntN(40), 0, 300*time.Microsecond)...)
		fl = append(fl, edge("api", "postgres", topologyv1.Protocol_PROTOCOL_POSTGRES, "SELECT", 40+d.rng.IntN(10), 2, 2*time.Millisecond)...)
		stream, err := cli.ReportFlows(ctx)
		if err == nil {
			err = stream.Send(&topologyv1.ReportFlowsRequest{Flows: fl})
			if err == nil {
				_, err = stream.CloseAndRecv()
			}
		}
		if err != nil && ctx.Err() == nil {
			d.log.Warn("demo: reporting flows", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
