package main

import (
	"testing"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	"github.com/hindsight-dev/hindsight/services/indexer/app"
)

// TestAppFlags: the indexer binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	servertest.AppFlags(t, binary().Bind, new(app.Flags).Bind)
}
