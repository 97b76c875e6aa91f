package ingest

import (
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/status"

	"github.com/hindsight-dev/hindsight/internal/badrequest"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// Ingest serves one agent's stream: many batches in flight at once, each
// acknowledged as soon as Kafka has all its records, in whatever order that
// happens. The stream ends
//   - with nil, once the agent has closed its side and every batch is acked;
//   - with Unavailable naming the batch, when Kafka did not take a batch (the
//     agent resends everything it has not seen acknowledged);
//   - with InvalidArgument naming the field and the message ("message 3 of
//     the stream"), for a malformed batch, once the batches before it are
//     acked: it and every later message are not, so the agent never takes
//     them for ingested;
//   - with Unavailable after the batches in flight are acked, when the
//     router shuts down.
func (g *Ingester) Ingest(stream routingv1.RoutingService_IngestServer) error {
	if err := g.begin(); err != nil {
		return err
	}
	defer g.calls.Done()
	g.m.streams.Inc()
	defer g.m.streams.Dec()
	ctx := stream.Context()

	// Recv blocks, so it runs apart; the loop below alone calls Send.
	reqs := make(chan *routingv1.IngestRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()

	// Producer callbacks never block: at most maxInFlight batches are in
	// flight, and each reports once.
	acks := make(chan *routingv1.Ack, g.maxInFlight)
	failed := make(chan error, g.maxInFlight)
	inFlight := 0
	received := 0    // messages read, for naming a refused one
	var endErr error // set when no more batches are taken: how the stream ends
	ending := false
	draining := g.draining
	for {
		in := reqs
		if ending || inFlight >= g.maxInFlight {
			in = nil
		}
		if ending && inFlight == 0 {
			return endErr
		}
		select {
		case req := <-in:
			received++
			if err := g.submit(ctx, req.GetBatch(), "batch.", func(ack *routingv1.Ack, err error) {
				if err != nil {
					failed <- err
					return
				}
				acks <- ack
			}); err != nil {
				// Take no more; the batches before it are still acked as
				// Kafka takes them, then the stream ends with this error,
				// naming the message: it and every later one are not
				// acknowledged.
				ending, endErr = true, badrequest.Within(err, fmt.Sprintf("message %d of the stream (batch sequence %d)", received, req.GetBatch().GetSequence()))
				continue
			}
			inFlight++
		case ack := <-acks:
			inFlight--
			if err := stream.Send(&routingv1.IngestResponse{Ack: ack}); err != nil {
				return err
			}
		case err := <-failed:
			return err
		case err := <-recvErr:
			if !errors.Is(err, io.EOF) {
				return err
			}
			ending = true
		case <-draining:
			draining = nil
			if !ending {
				ending, endErr = true, errDraining
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}
