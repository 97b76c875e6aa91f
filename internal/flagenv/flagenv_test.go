package flagenv

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestEnvFillsUnsetFlagsOnly(t *testing.T) {
	t.Setenv("HS_GRPC_ADDR", ":7000")
	t.Setenv("HS_TTL", "5s")
	t.Setenv("HS_NAME", "from-env")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	addr := fs.String("grpc-addr", ":9000", "")
	ttl := fs.Duration("ttl", time.Second, "")
	name := fs.String("name", "default", "")
	if err := Parse(fs, "HS", []string{"--name=from-flag"}); err != nil {
		t.Fatal(err)
	}
	if *addr != ":7000" || *ttl != 5*time.Second {
		t.Errorf("env not applied: addr=%q ttl=%v", *addr, *ttl)
	}
	if *name != "from-flag" {
		t.Errorf("command line must win over env, got %q", *name)
	}
}

func TestBadEnvValueNamesVariable(t *testing.T) {
	t.Setenv("HS_TTL", "soon")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Duration("ttl", time.Second, "")
	err := Parse(fs, "HS", nil)
	if err == nil || !strings.Contains(err.Error(), "HS_TTL") {
		t.Fatalf("want an error naming HS_TTL, got %v", err)
	}
}

func TestList(t *testing.T) {
	if got := strings.Join(List(" a:1, ,b:2,"), "|"); got != "a:1|b:2" {
		t.Fatalf("List = %q", got)
	}
	if List("") != nil {
		t.Fatal("an empty value is an empty list")
	}
}
