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

func TestPrefixedKeepsValuesAndDefaults(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var ttl time.Duration
	Prefixed(fs, "replay.", func(fs *flag.FlagSet) { fs.DurationVar(&ttl, "min-ttl", time.Minute, "shortest") })
	if d := Defaults(fs)["replay.min-ttl"]; d != "1m0s" {
		t.Fatalf("default %q, want 1m0s", d)
	}
	t.Setenv("HS_REPLAY_MIN_TTL", "2m")
	if err := Parse(fs, "HS", nil); err != nil || ttl != 2*time.Minute {
		t.Fatalf("ttl %v, err %v: the env must reach the bound variable", ttl, err)
	}
}

func TestDiffNamesAMissingOrChangedFlag(t *testing.T) {
	app := func(fs *flag.FlagSet) { fs.Int("max-concurrent", 4, ""); fs.Int("workers", 2, "") }
	same := func(fs *flag.FlagSet) { fs.String("grpc-addr", ":1", ""); app(fs) }
	if d := Diff(same, app); d != "" {
		t.Fatalf("diff %q of a binary binding the app", d)
	}
	drifted := func(fs *flag.FlagSet) { fs.Int("max-concurrent", 0, "") }
	d := Diff(drifted, app)
	if !strings.Contains(d, "--max-concurrent") || !strings.Contains(d, "--workers") {
		t.Fatalf("diff %q should name the changed and the missing flag", d)
	}
}
