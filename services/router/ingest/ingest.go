// Package ingest is the router's hot path: it parses each batch of lines
// with its dataset's parser, routes every event to its topics, produces the
// records and acknowledges the batch only once Kafka has acknowledged every
// one of them (acks=all, idempotent producer).
//
// A batch whose records Kafka does not all take is never acknowledged: on
// the Ingest stream the stream ends with Unavailable naming the batch, and
// IngestBatch answers Unavailable. The agent then resends from its last
// acknowledged offset; the events' deterministic ids make the records that
// did get through harmless duplicates that every sink removes.
package ingest

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hindsight-dev/hindsight/internal/auth"
	"github.com/hindsight-dev/hindsight/internal/badrequest"
	"github.com/hindsight-dev/hindsight/internal/lineblock"
	"github.com/hindsight-dev/hindsight/internal/parse"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
	"github.com/hindsight-dev/hindsight/services/router/catalog"
	"github.com/hindsight-dev/hindsight/services/router/rules"
	"github.com/hindsight-dev/hindsight/services/router/topics"
)

// Limits on a batch.
const (
	maxLines    = 100000
	maxLabels   = 64
	maxLabelLen = 1024
)

// Defaults of Options.
const (
	DefaultMaxInFlight   = 64
	DefaultBatchMaxBytes = 1000012 // Kafka's default message.max.bytes
)

// Catalog is what ingest needs of the catalog: datasets made on first use.
type Catalog interface {
	EnsureDataset(ctx context.Context, name string) (*routingv1.Dataset, error)
}

// TopicMaker makes sure topics exist before the first records go to them.
type TopicMaker interface {
	Reconcile(ctx context.Context, specs []topics.Spec) error
}

// Options configure an Ingester.
type Options struct {
	// Producer is a client from NewClient.
	Producer *kgo.Client
	// BatchMaxBytes is the producer's batch limit; records are kept below it.
	BatchMaxBytes int32
	// AutoCreate makes unknown datasets on first use (raw parser, default
	// topic settings) instead of refusing their batches.
	AutoCreate bool
	Catalog    Catalog
	Topics     TopicMaker
	// MaxInFlight bounds the unacknowledged batches of one stream; past it
	// the stream stops reading, which pushes back on the agent.
	MaxInFlight int
	Log         *slog.Logger
	Registerer  prometheus.Registerer
}

// Ingester implements Ingest and IngestBatch of routingv1.RoutingService.
type Ingester struct {
	producer    *kgo.Client
	maxRecord   int
	autoCreate  bool
	catalog     Catalog
	topics      TopicMaker
	maxInFlight int
	log         *slog.Logger
	m           *metrics
	now         func() time.Time

	table atomic.Pointer[rules.Table]
	// created holds the datasets this router made on first use until the
	// catalog watch brings them into the table.
	createMu sync.Mutex
	created  map[string]*rules.Dataset

	drainOnce sync.Once
	draining  chan struct{}
	calls     sync.WaitGroup
}

// New returns an Ingester. It refuses batches (Unavailable) until the first
// SetTable.
func New(o Options) (*Ingester, error) {
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Ingester{
		producer:    o.Producer,
		maxRecord:   int(cmp.Or(o.BatchMaxBytes, DefaultBatchMaxBytes)) - recordOverhead,
		autoCreate:  o.AutoCreate,
		catalog:     o.Catalog,
		topics:      o.Topics,
		maxInFlight: cmp.Or(o.MaxInFlight, DefaultMaxInFlight),
		log:         cmp.Or(o.Log, slog.Default()),
		m:           m,
		now:         time.Now,
		created:     map[string]*rules.Dataset{},
		draining:    make(chan struct{}),
	}, nil
}

// SetTable switches to a newly compiled catalog.
func (g *Ingester) SetTable(t *rules.Table) {
	g.table.Store(t)
	g.m.datasets.Set(float64(t.Len()))
	g.createMu.Lock()
	for name := range g.created {
		if t.Dataset(name) != nil {
			delete(g.created, name)
		}
	}
	g.createMu.Unlock()
}

// Drain stops taking batches and waits (until ctx ends) for the calls in
// progress to finish their batches; streams then end with Unavailable so
// that agents move to another router. Finally it flushes the producer.
func (g *Ingester) Drain(ctx context.Context) error {
	g.drainOnce.Do(func() { close(g.draining) })
	done := make(chan struct{})
	go func() { g.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ingest calls still running: %w", ctx.Err())
	}
	return g.producer.Flush(ctx)
}

var errDraining = status.Error(codes.Unavailable, "router shutting down; send to another router")

// begin registers a call, unless draining.
func (g *Ingester) begin() error {
	select {
	case <-g.draining:
		return errDraining
	default:
	}
	g.calls.Add(1)
	return nil
}

// IngestBatch is one batch, acknowledged once Kafka has every record.
func (g *Ingester) IngestBatch(ctx context.Context, b *routingv1.Batch) (*routingv1.Ack, error) {
	if err := g.begin(); err != nil {
		return nil, err
	}
	defer g.calls.Done()
	type result struct {
		ack *routingv1.Ack
		err error
	}
	res := make(chan result, 1)
	if err := g.submit(ctx, b, "", func(ack *routingv1.Ack, err error) { res <- result{ack, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-res:
		return r.ack, r.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// submit parses and routes b and hands its records to the producer. Errors
// about the batch itself return at once, naming fields under at (the
// batch's path in the request: "" for IngestBatch, "batch." on the stream);
// the outcome of producing comes to done, exactly once, from the producer's
// goroutine.
func (g *Ingester) submit(ctx context.Context, b *routingv1.Batch, at string, done func(*routingv1.Ack, error)) error {
	if err := validate(b, at); err != nil {
		return err
	}
	ds, err := g.dataset(ctx, b.GetDataset(), at)
	if err != nil {
		return err
	}
	name := b.GetDataset()
	g.m.batches.WithLabelValues(name).Inc()
	g.m.lines.WithLabelValues(name).Add(float64(lineblock.Count(b)))
	var steps []prometheus.Counter
	if n := ds.Parser.Steps(); n > 0 {
		steps = make([]prometheus.Counter, n)
		for i := range steps {
			steps[i] = g.m.processorSteps.WithLabelValues(name, ds.Parser.StepName(i))
		}
	}
	recs, ack, size, dropped := prepare(ds, b, owner(ctx), g.now(), g.maxRecord, func(i int) { steps[i].Inc() })
	g.m.dropped.WithLabelValues(name).Add(float64(dropped))
	g.m.bytes.WithLabelValues(name).Add(float64(size))
	g.m.parseFailures.WithLabelValues(name).Add(float64(ack.ParseFailures))
	g.produce(ctx, name, recs, func(err error) {
		if err != nil {
			g.m.batchFailures.WithLabelValues(name).Inc()
			done(nil, status.Errorf(codes.Unavailable, "batch %d of %s not acknowledged: Kafka did not take every record: %v", b.GetSequence(), name, err))
			return
		}
		g.m.acks.WithLabelValues(name).Inc()
		done(ack, nil)
	})
	return nil
}

// owner is whose lines a batch holds, for their event ids: the caller's
// principal, or no one when authentication is off.
func owner(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok && p != auth.Anonymous {
		return p.Name
	}
	return ""
}

// prepare parses, processes and routes the lines of b (shipped by owner),
// received at now: it returns their records, the batch's ack, the size of
// its lines and how many events the dataset's processor steps dropped
// (acknowledged, not produced);
// step hears of each processor step that ran. A large batch is parsed in
// parallel chunks, one per core: a stream's batches come one after another,
// so one busy agent would otherwise keep the router on one core. Records keep
// the order of their lines.
func prepare(ds *rules.Dataset, b *routingv1.Batch, owner string, now time.Time, maxRecord int, step func(int)) ([]*kgo.Record, *routingv1.Ack, int, int) {
	ingested := timestamppb.New(now)
	lines := lineblock.Lines(b)
	ack := &routingv1.Ack{Sequence: b.GetSequence(), Accepted: int64(len(lines))}
	n := min(runtime.GOMAXPROCS(0), len(lines)/parallelChunk)
	if n <= 1 {
		c := prepareLines(ds, b, lines, owner, now, ingested, maxRecord, step)
		ack.ParseFailures = c.failures
		return c.recs, ack, c.size, c.dropped
	}
	chunks := make([]chunk, n)
	var wg sync.WaitGroup
	per := (len(lines) + n - 1) / n
	for i := range chunks {
		part := lines[min(i*per, len(lines)):min((i+1)*per, len(lines))]
		wg.Go(func() { chunks[i] = prepareLines(ds, b, part, owner, now, ingested, maxRecord, step) })
	}
	wg.Wait()
	total, size, dropped := 0, 0, 0
	for _, c := range chunks {
		total += len(c.recs)
	}
	recs := make([]*kgo.Record, 0, total)
	for _, c := range chunks {
		recs = append(recs, c.recs...)
		ack.ParseFailures += c.failures
		size += c.size
		dropped += c.dropped
	}
	return recs, ack, size, dropped
}

// parallelChunk is the fewest lines worth a goroutine of their own.
const parallelChunk = 256

// chunk is what prepareLines made of some lines of a batch.
type chunk struct {
	recs          []*kgo.Record
	failures      int64
	size, dropped int
}

func prepareLines(ds *rules.Dataset, b *routingv1.Batch, lines []*routingv1.RawLine, owner string, now time.Time, ingested *timestamppb.Timestamp, maxRecord int, step func(int)) chunk {
	c := chunk{recs: make([]*kgo.Record, 0, len(lines))}
	out := newRecords(b.GetDataset(), lines)
	var dst []string
	withMap := ds.ReadsFields()
	// Each line's event lives until its document is written, so one
	// Scratch serves them all.
	var sc parse.Scratch
	for _, l := range lines {
		c.size += len(l.GetLine())
		in := parse.Input{Line: l.GetLine(), Ingested: now, Truncated: l.GetTruncated()}
		if l.GetReadTime() != nil {
			in.ReadTime = l.GetReadTime().AsTime()
		}
		if l.GetFileTime() != nil {
			in.FileTime = l.GetFileTime().AsTime()
		}
		e, fields := ds.Parser.ParseInto(in, &sc)
		if withMap {
			e.Fields, fields = fields.Struct(), nil
		}
		if parse.Failed(e) {
			c.failures++
		}
		key := out.id(owner, l.GetSource())
		// The records' buffer is written once: the id may share the key's bytes.
		e.Id = unsafe.String(&key[0], len(key))
		e.Dataset = b.GetDataset()
		e.Source = l.GetSource()
		e.Ingested = ingested
		e.Labels = b.GetLabels()
		if !ds.Parser.Process(e, step) {
			c.dropped++
			continue
		}
		value := out.value(e, fields, maxRecord)
		dst = ds.Topics(e, dst[:0])
		for _, t := range dst {
			c.recs = append(c.recs, out.add(t, e, key, value))
		}
	}
	return c
}

// produce hands recs to the producer and calls done once Kafka has
// acknowledged them all (nil) or failed one (the first error).
func (g *Ingester) produce(ctx context.Context, dataset string, recs []*kgo.Record, done func(error)) {
	g.m.inflightBatches.Inc()
	if len(recs) == 0 {
		g.m.inflightBatches.Dec()
		done(nil)
		return
	}
	var (
		remaining atomic.Int64
		firstErr  atomic.Pointer[error]
	)
	remaining.Store(int64(len(recs)))
	g.m.inflightRecords.Add(float64(len(recs)))
	start := time.Now()
	// One promise for the batch's records, not a closure each.
	promise := func(r *kgo.Record, err error) {
		g.m.inflightRecords.Dec()
		if err != nil {
			g.m.produceErrors.WithLabelValues(r.Topic).Inc()
			firstErr.CompareAndSwap(nil, &err)
		} else {
			g.m.records.WithLabelValues(r.Topic).Inc()
			g.m.produceLatency.Observe(time.Since(start).Seconds())
		}
		if remaining.Add(-1) == 0 {
			g.m.inflightBatches.Dec()
			if p := firstErr.Load(); p != nil {
				g.log.Warn("batch not produced", "dataset", dataset, "records", len(recs), "err", *p)
				done(*p)
				return
			}
			done(nil)
		}
	}
	for _, r := range recs {
		g.producer.Produce(ctx, r, promise)
	}
}

// dataset finds a batch's dataset, making it on first use if allowed.
func (g *Ingester) dataset(ctx context.Context, name, at string) (*rules.Dataset, error) {
	t := g.table.Load()
	if t == nil {
		return nil, status.Error(codes.Unavailable, "router starting: catalog not loaded yet")
	}
	if d := t.Dataset(name); d != nil {
		return d, nil
	}
	g.createMu.Lock()
	defer g.createMu.Unlock()
	if d := g.created[name]; d != nil {
		return d, nil
	}
	if !g.autoCreate {
		return nil, badrequest.Field(at+"dataset", "no dataset named %q; create it first", name)
	}
	pd, err := g.catalog.EnsureDataset(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := g.topics.Reconcile(ctx, []topics.Spec{topics.SpecOf(pd.GetTopic().GetTopic(), pd.GetTopic())}); err != nil {
		return nil, status.Errorf(codes.Unavailable, "creating the topic of dataset %s: %v", name, err)
	}
	d, err := rules.NewDataset(pd)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "dataset %s: %v", name, err)
	}
	g.created[name] = d
	return d, nil
}

// validate checks what the router relies on: a dataset name, and a source
// on every line (its id, the sinks' dedup key, derives from it).
func validate(b *routingv1.Batch, at string) error {
	var v badrequest.Violations
	if !catalog.ValidName(b.GetDataset()) {
		v.Add(at+"dataset", "must be a dataset name: lower case letters, digits, '.', '_' and '-', at most 100 characters; got %q", b.GetDataset())
	}
	if n := lineblock.Count(b); n > maxLines {
		v.Add(at+"lines", "at most %d lines in lines and blocks; got %d", maxLines, n)
	}
	if n := len(b.GetLabels()); n > maxLabels {
		v.Add(at+"labels", "at most %d labels; got %d", maxLabels, n)
	}
	for k, val := range b.GetLabels() {
		if k == "" || len(k) > maxLabelLen || len(val) > maxLabelLen {
			v.Add(at+"labels", "keys must be 1-%d bytes and values at most %d", maxLabelLen, maxLabelLen)
			break
		}
	}
	for i, l := range b.GetLines() {
		if src := l.GetSource(); src.GetHost() == "" && src.GetFileId() == "" {
			v.Add(fmt.Sprintf("%slines[%d].source", at, i), "required: host or file_id (with offset) identify the line")
			break
		}
	}
	lineblock.Check(&v, b, at)
	return v.Err()
}
