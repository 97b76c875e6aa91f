package ingest

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/event"
	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/internal/parse"
	"github.com/hindsight-dev/hindsight/internal/parse/parsetest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/rules"
)

// TestPrepareParallelKeepsOrder: a large batch is parsed in chunks on
// several cores, and its records still come in the order of its lines, with
// every failure, byte and drop counted once.
func TestPrepareParallelKeepsOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	ds, err := rules.NewDataset(&routingv1.Dataset{Name: "app", Topic: &routingv1.TopicSettings{Topic: "logs.app"}, Parser: &routingv1.Parser{
		Format:     routingv1.Parser_FORMAT_JSON,
		Processors: []*routingv1.Processor{{Op: routingv1.Processor_OP_DROP, When: &routingv1.Condition{Field: "drop", Op: routingv1.Condition_OP_EXISTS}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := &routingv1.Batch{Dataset: "app"}
	size := 0
	for i := range 3001 {
		line := fmt.Sprintf(`{"msg":"line %d"}`, i)
		switch {
		case i%100 == 7:
			line = "not json"
		case i%250 == 3:
			line = `{"drop":true}`
		}
		size += len(line)
		b.Lines = append(b.Lines, &routingv1.RawLine{Source: &eventv1.Source{Host: "h", FileId: "f", Offset: int64(i)}, Line: []byte(line)})
	}
	var steps atomic.Int64
	recs, ack, gotSize, dropped := prepare(ds, b, "", time.Now(), 1<<20, func(int) { steps.Add(1) })
	if ack.Accepted != 3001 || ack.ParseFailures != 30 || steps.Load() != 12 || gotSize != size || dropped != 12 || len(recs) != 3001-12 {
		t.Fatalf("accepted %d failures %d size %d/%d dropped %d records %d", ack.Accepted, ack.ParseFailures, gotSize, size, dropped, len(recs))
	}
	last := int64(-1)
	for _, r := range recs {
		e, err := event.Unmarshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if off := e.GetSource().GetOffset(); off <= last {
			t.Fatalf("record of offset %d after %d", off, last)
		} else {
			last = off
		}
	}
}

// TestEventIDsAreTheShippers: the same line shipped by two agents' tokens
// gets two ids (one agent cannot overwrite another's events), again by the
// same one the same id (a resend dedupes), and with authentication off
// (no owner) the id of its source alone.
func TestEventIDsAreTheShippers(t *testing.T) {
	ds, err := rules.NewDataset(&routingv1.Dataset{Name: "app", Topic: &routingv1.TopicSettings{Topic: "logs.app"}, Parser: &routingv1.Parser{Format: routingv1.Parser_FORMAT_JSON}})
	if err != nil {
		t.Fatal(err)
	}
	src := &eventv1.Source{Host: "web-1", FileId: "f", Offset: 42}
	b := &routingv1.Batch{Dataset: "app", Lines: []*routingv1.RawLine{{Source: src, Line: []byte(`{"msg":"x"}`)}}}
	key := func(owner string) string {
		recs, _, _, _ := prepare(ds, b, owner, time.Now(), 1<<20, nil)
		return string(recs[0].Key)
	}
	a, again, other, none := key("agent-a"), key("agent-a"), key("agent-b"), key("")
	if a != again || a == other || a == none || other == none {
		t.Fatalf("ids: agent-a %s and %s, agent-b %s, no owner %s", a, again, other, none)
	}
	if none != event.ID(src) {
		t.Fatalf("without an owner the id is %s, want event.ID(source) %s", none, event.ID(src))
	}
}

// TestPrepareDocumentsAreParsersEvents: every record of a batch, whose
// lines are parsed one after another into the same memory and written from
// the parser's field list, holds exactly the document of the line's event
// as Parse makes it on its own (with its map) and Marshal writes it — for
// every format's samples, and with a route reading fields (the map path).
func TestPrepareDocumentsAreParsersEvents(t *testing.T) {
	now := time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC)
	for _, s := range parsetest.Samples {
		for _, routed := range []bool{false, true} {
			d := &routingv1.Dataset{Name: s.Name, Parser: s.Config, Topic: &routingv1.TopicSettings{Topic: "logs." + s.Name}}
			var table *rules.Table
			if routed {
				table = rules.Compile(map[string]*routingv1.Dataset{s.Name: d}, map[string]*routingv1.Route{"r": {
					Name: "r", Dataset: s.Name, Topic: "other",
					Conditions: []*routingv1.Condition{{Field: "process.name", Op: routingv1.Condition_OP_EXISTS}},
				}}, slog.Default())
			} else {
				table = rules.Compile(map[string]*routingv1.Dataset{s.Name: d}, nil, slog.Default())
			}
			ds := table.Dataset(s.Name)
			if ds.ReadsFields() != routed {
				t.Fatalf("%s: ReadsFields %v, routed %v", s.Name, ds.ReadsFields(), routed)
			}
			b := &routingv1.Batch{Dataset: s.Name, Labels: map[string]string{"env": "prod"}}
			for i := range 3 * len(s.Lines) {
				b.Lines = append(b.Lines, &routingv1.RawLine{
					Source: &eventv1.Source{Host: "node-1", FilePath: "/var/log/x.log", FileId: "f1", Offset: int64(i) * 100},
					Line:   []byte(s.Lines[i%len(s.Lines)]), ReadTime: timestamppb.New(now),
				})
			}
			recs, _, _, _ := prepare(ds, b, "", now, 1<<20, nil)
			if len(recs) != len(b.Lines) {
				t.Fatalf("%s: %d records of %d lines", s.Name, len(recs), len(b.Lines))
			}
			for i, r := range recs {
				l := b.Lines[i]
				e := ds.Parser.Parse(parse.Input{Line: l.Line, ReadTime: now, Ingested: now})
				e.Id, e.Dataset, e.Source, e.Ingested, e.Labels = event.ID(l.Source), s.Name, l.Source, timestamppb.New(now), b.Labels
				want, err := event.Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				if string(r.Value) != string(want) {
					t.Fatalf("%s (routed %v) line %d:\n got %s\nwant %s", s.Name, routed, i, r.Value, want)
				}
				if wantTopic := ds.Topics(e, nil)[0]; r.Topic != wantTopic {
					t.Fatalf("%s line %d: topic %s, want %s", s.Name, i, r.Topic, wantTopic)
				}
			}
		}
	}
}

// TestBlocksAreTheirLines: a batch shipped as blocks (the agent's form)
// makes the records the same lines shipped one RawLine each make, and a
// block that does not hold together is refused naming its field.
func TestBlocksAreTheirLines(t *testing.T) {
	s, _ := parsetest.Lookup("combined")
	ds, err := rules.NewDataset(&routingv1.Dataset{Name: "web", Parser: s.Config, Topic: &routingv1.TopicSettings{Topic: "logs.web"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2015, 10, 22, 8, 0, 0, 0, time.UTC)
	flat := &routingv1.Batch{Dataset: "web"}
	packed := &routingv1.Batch{Dataset: "web"}
	for f, path := range []string{"/a.log", "/b.log"} {
		bl := lineblock.New(&eventv1.Source{Host: "n", FilePath: path, FileId: path}, nil)
		for i, l := range s.Lines {
			off := int64(1000*f + 10*i)
			flat.Lines = append(flat.Lines, &routingv1.RawLine{Source: &eventv1.Source{Host: "n", FilePath: path, FileId: path, Offset: off}, Line: []byte(l), ReadTime: timestamppb.New(now), Truncated: i == 2})
			lineblock.Append(bl, []byte(l), off, now, i == 2)
		}
		packed.Blocks = append(packed.Blocks, bl)
	}
	if err := validate(packed, ""); err != nil {
		t.Fatal(err)
	}
	want, wantAck, _, _ := prepare(ds, flat, "", now, 1<<20, nil)
	got, gotAck, _, _ := prepare(ds, packed, "", now, 1<<20, nil)
	if len(got) != len(want) || gotAck.Accepted != wantAck.Accepted || gotAck.Accepted != int64(2*len(s.Lines)) {
		t.Fatalf("%d records (ack %v), want %d (ack %v)", len(got), gotAck, len(want), wantAck)
	}
	for i := range want {
		if string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("record %d:\n got %s %s\nwant %s %s", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
		}
	}
	packed.Blocks[1].Offsets = nil
	if err := validate(packed, "batch."); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "batch.blocks[1].offsets") {
		t.Fatalf("a block without offsets: %v", err)
	}
}
