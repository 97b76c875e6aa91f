package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

// DefaultPrefix is where replays keep their state in etcd.
const DefaultPrefix = "/hindsight/replay/"

// store keeps replays in etcd, so that a restarted service (or another
// replica taking over) knows every replay and resumes unfinished loads:
//
//	<prefix>replays/<name>            the Replay (protojson), with its progress
//	<prefix>files/<name>/<hash>       a file fully loaded, with its counts
//
// A file is recorded only once all of its events are in the target, so a
// resumed load skips exactly the files that are complete and reads the
// others again; ids make re-reading them harmless.
type store struct {
	cli    *clientv3.Client
	prefix string
}

// fileDone is what a loaded file contributed.
type fileDone struct {
	Events  int64 `json:"events"`
	Skipped int64 `json:"skipped"`
	Bytes   int64 `json:"bytes"`
}

func (s *store) replayKey(name string) string { return s.prefix + "replays/" + name }

func (s *store) filesPrefix(name string) string { return s.prefix + "files/" + name + "/" }

func (s *store) fileKey(name, path string) string {
	h := sha256.Sum256([]byte(path))
	return s.filesPrefix(name) + hex.EncodeToString(h[:12])
}

var jsonOpts = protojson.MarshalOptions{}

// create stores a new replay; AlreadyExists when the name is taken.
func (s *store) create(ctx context.Context, r *replayv1.Replay) error {
	b, err := jsonOpts.Marshal(r)
	if err != nil {
		return err
	}
	k := s.replayKey(r.GetName())
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(b))).
		Commit()
	if err != nil {
		return unavailable(err)
	}
	if !resp.Succeeded {
		return status.Errorf(codes.AlreadyExists, "replay %q already exists", r.GetName())
	}
	return nil
}

// put updates a replay unless it was deleted meanwhile.
func (s *store) put(ctx context.Context, r *replayv1.Replay) error {
	b, err := jsonOpts.Marshal(r)
	if err != nil {
		return err
	}
	k := s.replayKey(r.GetName())
	_, err = s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), ">", 0)).
		Then(clientv3.OpPut(k, string(b))).
		Commit()
	return unavailable(err)
}

func (s *store) get(ctx context.Context, name string) (*replayv1.Replay, error) {
	resp, err := s.cli.Get(ctx, s.replayKey(name))
	if err != nil {
		return nil, unavailable(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, status.Errorf(codes.NotFound, "replay %q not found", name)
	}
	r := &replayv1.Replay{}
	if err := protojson.Unmarshal(resp.Kvs[0].Value, r); err != nil {
		return nil, fmt.Errorf("replay %s state: %w", name, err)
	}
	return r, nil
}

// list returns every replay, by name.
func (s *store) list(ctx context.Context) ([]*replayv1.Replay, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"replays/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]*replayv1.Replay, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r := &replayv1.Replay{}
		if err := protojson.Unmarshal(kv.Value, r); err != nil {
			return nil, fmt.Errorf("replay state %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// remove deletes a replay and its file records.
func (s *store) remove(ctx context.Context, name string) error {
	_, err := s.cli.Txn(ctx).Then(
		clientv3.OpDelete(s.replayKey(name)),
		clientv3.OpDelete(s.filesPrefix(name), clientv3.WithPrefix()),
	).Commit()
	return unavailable(err)
}

// markDone records a fully loaded file, if the replay still exists.
func (s *store) markDone(ctx context.Context, name, path string, d fileDone) error {
	b, _ := json.Marshal(d)
	_, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.replayKey(name)), ">", 0)).
		Then(clientv3.OpPut(s.fileKey(name, path), string(b))).
		Commit()
	return unavailable(err)
}

// done returns the records of the replay's loaded files, by key.
func (s *store) done(ctx context.Context, name string) (map[string]fileDone, error) {
	resp, err := s.cli.Get(ctx, s.filesPrefix(name), clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string]fileDone, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var d fileDone
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return nil, fmt.Errorf("replay file record %s: %w", kv.Key, err)
		}
		out[string(kv.Key)] = d
	}
	return out, nil
}

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "replay state store: %v", err)
}
