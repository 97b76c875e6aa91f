package main

import (
	"testing"

	"github.com/hindsight-dev/hindsight/internal/server/servertest"
	"github.com/hindsight-dev/hindsight/services/topology/app"
)

// TestAppFlags: the topology binary offers its app's flags with their defaults.
func TestAppFlags(t *testing.T) {
	servertest.AppFlags(t, binary().Bind, new(app.Flags).Bind)
}
