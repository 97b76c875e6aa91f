package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Intent is one archiver flush of one partition: the objects it is about to
// write for the records at offsets FirstOffset..LastOffset.
//
// Names derived from offsets make a re-run write the same objects only if it
// cuts the records into flushes the same way, and a flush by age need not. So
// a flush is journaled before it writes and forgotten once its offsets are
// committed; the partition's next owner removes the objects of flushes that
// were never committed (Recover) before archiving their records again.
type Intent struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	FirstOffset int64  `json:"first_offset"`
	LastOffset  int64  `json:"last_offset"`
	Objects     []Key  `json:"objects"`
}

func (in Intent) path() string {
	return journalPath(in.Topic, in.Partition, in.FirstOffset, in.LastOffset)
}

// BeginFlush durably journals in; call it before writing any of its objects.
func (s *Store) BeginFlush(ctx context.Context, in Intent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if err := s.bucket.WriteAll(ctx, in.path(), b, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("archive journal %s: %w", in.path(), err)
	}
	return s.sync(in.path())
}

// EndFlush forgets in; call it once its offsets are committed.
func (s *Store) EndFlush(ctx context.Context, in Intent) error {
	return s.remove(ctx, in.path())
}

// Recover settles the journal of a partition whose records are about to be
// consumed again from offset resumeAt. A flush that starts at or after
// resumeAt was never committed: its records will be archived again, so it is
// discarded. A flush before resumeAt was committed, or its records have left
// Kafka; its objects stay. It returns the keys of the objects removed.
func (s *Store) Recover(ctx context.Context, topic string, partition int32, resumeAt int64) ([]Key, error) {
	var removed []Key
	for lo, err := range s.list(ctx, &blob.ListOptions{Prefix: journalDir(topic, partition)}) {
		if err != nil {
			return removed, fmt.Errorf("archive journal list: %w", err)
		}
		if !strings.HasSuffix(lo.Key, ".json") {
			continue
		}
		b, err := s.bucket.ReadAll(ctx, lo.Key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue // settled meanwhile by another instance
		}
		var in Intent
		if err == nil {
			err = json.Unmarshal(b, &in)
		}
		if err != nil {
			return removed, fmt.Errorf("archive journal %s: %w", lo.Key, err)
		}
		if in.FirstOffset < resumeAt {
			if err := s.remove(ctx, lo.Key); err != nil {
				return removed, err
			}
			continue
		}
		if err := s.Discard(ctx, in); err != nil {
			return removed, err
		}
		removed = append(removed, in.Objects...)
	}
	return removed, nil
}

// Discard removes the objects of a flush that will not be committed (manifest
// first, so readers stop seeing them at once), then its journal entry.
func (s *Store) Discard(ctx context.Context, in Intent) error {
	for _, k := range in.Objects {
		if err := s.remove(ctx, k.ManifestPath()); err != nil {
			return err
		}
		if err := s.remove(ctx, k.Path()); err != nil {
			return err
		}
	}
	return s.remove(ctx, in.path())
}

// remove deletes key; a key already gone is fine.
func (s *Store) remove(ctx context.Context, key string) error {
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("archive delete %s: %w", key, err)
	}
	return nil
}
