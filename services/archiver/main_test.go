package main

import (
	"testing"

	"github.com/hindsight-dev/hindsight/internal/flagenv"
	"github.com/hindsight-dev/hindsight/services/archiver/app"
)

// TestAppFlags: the archiver binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	if d := flagenv.Diff(new(config).bind, new(app.Flags).Bind); d != "" {
		t.Fatal(d)
	}
}
