package lineblock

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	eventv1 "github.com/hindsight-dev/hindsight/proto/hindsight/event/v1"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// TestBlocksUnpackToTheirLines: lines packed into blocks (through the wire
// form) unpack to the RawLines they stand for, after the batch's own lines,
// each with its file's source, its offset, read time, cut flag and the
// file's date; an empty line stays a line.
func TestBlocksUnpackToTheirLines(t *testing.T) {
	read := time.Date(2015, 10, 21, 16, 29, 0, 123456789, time.UTC)
	day := timestamppb.New(time.Date(2015, 10, 20, 23, 59, 59, 0, time.UTC))
	own := &routingv1.RawLine{Source: &eventv1.Source{Host: "h", FileId: "x", Offset: 7}, Line: []byte("own")}
	a := New(&eventv1.Source{Host: "h", FilePath: "/a.log", FileId: "fa"}, nil)
	b := New(&eventv1.Source{Host: "h", FilePath: "/b.log", FileId: "fb"}, day)
	Append(a, []byte("first"), 0, read, false)
	Append(b, []byte("other file"), 100, read.Add(time.Second), true)
	Append(a, nil, 6, read, false)
	Append(a, []byte("third"), 7, read.Add(-time.Hour), true)
	wire, err := proto.Marshal(&routingv1.Batch{Dataset: "d", Lines: []*routingv1.RawLine{own}, Blocks: []*routingv1.LineBlock{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	var got routingv1.Batch
	if err := proto.Unmarshal(wire, &got); err != nil {
		t.Fatal(err)
	}
	var v badrequest.Violations
	if Check(&v, &got, ""); v.Err() != nil {
		t.Fatal(v.Err())
	}
	src := func(path, id string, off int64) *eventv1.Source {
		return &eventv1.Source{Host: "h", FilePath: path, FileId: id, Offset: off}
	}
	want := []*routingv1.RawLine{
		own,
		{Source: src("/a.log", "fa", 0), Line: []byte("first"), ReadTime: timestamppb.New(read)},
		{Source: src("/a.log", "fa", 6), Line: []byte{}, ReadTime: timestamppb.New(read)},
		{Source: src("/a.log", "fa", 7), Line: []byte("third"), ReadTime: timestamppb.New(read.Add(-time.Hour)), Truncated: true},
		{Source: src("/b.log", "fb", 100), Line: []byte("other file"), ReadTime: timestamppb.New(read.Add(time.Second)), Truncated: true, FileTime: day},
	}
	lines := Lines(&got)
	if Count(&got) != len(want) || len(lines) != len(want) {
		t.Fatalf("count %d, %d lines; want %d", Count(&got), len(lines), len(want))
	}
	for i := range want {
		if !proto.Equal(lines[i], want[i]) {
			t.Errorf("line %d: got %v, want %v", i, lines[i], want[i])
		}
	}
}

// TestCheckNamesTheBadField: each inconsistency of a block is refused
// naming the field and block.
func TestCheckNamesTheBadField(t *testing.T) {
	good := func() *routingv1.LineBlock {
		bl := New(&eventv1.Source{Host: "h", FileId: "f"}, nil)
		Append(bl, []byte("ab"), 0, time.Unix(1, 0), false)
		Append(bl, []byte("c"), 3, time.Unix(1, 0), true)
		return bl
	}
	cases := map[string]func(*routingv1.LineBlock){
		"batch.blocks[1].source":          func(bl *routingv1.LineBlock) { bl.Source = nil },
		"batch.blocks[1].offsets":         func(bl *routingv1.LineBlock) { bl.Offsets = bl.Offsets[:1] },
		"batch.blocks[1].read_time_nanos": func(bl *routingv1.LineBlock) { bl.ReadTimeNanos = append(bl.ReadTimeNanos, 5) },
		"batch.blocks[1].ends[1]":         func(bl *routingv1.LineBlock) { bl.Ends[1] = 4 },
		"batch.blocks[1].ends[0]":         func(bl *routingv1.LineBlock) { bl.Ends[0] = 9 },
		"batch.blocks[1].truncated[0]":    func(bl *routingv1.LineBlock) { bl.Truncated = []uint32{2} },
		"batch.blocks[1].truncated[1]":    func(bl *routingv1.LineBlock) { bl.Truncated = []uint32{1, 1} },
	}
	for field, spoil := range cases {
		bad := good()
		spoil(bad)
		var v badrequest.Violations
		Check(&v, &routingv1.Batch{Blocks: []*routingv1.LineBlock{good(), bad}}, "batch.")
		if err := v.Err(); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	var v badrequest.Violations
	bl := good()
	bl.ReadTimeNanos = nil // none is allowed
	if Check(&v, &routingv1.Batch{Blocks: []*routingv1.LineBlock{bl}}, ""); v.Err() != nil {
		t.Fatal(v.Err())
	}
}
