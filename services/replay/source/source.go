// Package source is where a replay reads events from: Hindsight's own archive
// (gzip NDJSON of ECS documents, planned from its manifests), or a legacy tree
// of raw .gz log files laid out by date and parsed with the router's parsers.
// Both turn a (datasets, time range) into an ordered list of files, and a file
// into ECS documents with their deterministic ids.
package source

import (
	"context"
	"time"
)

// File is one object to read.
type File struct {
	Path    string
	Dataset string
	// Day is the date the file is foldered under (midnight UTC).
	Day   time.Time
	Bytes int64
	// Events is the number of events in the file; -1 when unknown.
	Events int64
}

// Estimate sums a plan.
type Estimate struct {
	Files, Bytes int64
	// Events is -1 when unknown (legacy trees have no manifests).
	Events int64
}

// Record is one event read from a file.
type Record struct {
	// Doc is the event's ECS JSON document (valid during the callback only).
	Doc []byte
	// ID is the event's id when the source computed it; empty means the
	// document's own event.id.
	ID string
}

// Source is a store of files by dataset and date.
type Source interface {
	// Datasets lists the datasets present; nil with no error means the
	// source cannot tell (any name is accepted).
	Datasets(ctx context.Context) ([]string, error)
	// Plan lists, in a stable order, the files that may hold events of the
	// datasets with from <= @timestamp < to.
	Plan(ctx context.Context, datasets []string, from, to time.Time) ([]File, Estimate, error)
	// Read calls emit for every event of f, in file order, with the bytes
	// of compressed input consumed so far; an error from emit stops it.
	Read(ctx context.Context, f File, emit func(r Record, bytesRead int64) error) error
	Close() error
}
