package harvester

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const sampleConfig = `
registry: /var/lib/hindsight/registry.json
routers: [router-1:9401, router-2:9401]
membership: membership:9301
batch: {max_lines: 500, max_bytes: 524288, linger: 100ms}
window: 16
close_inactive: 2m
inputs:
  - name: nginx
    dataset: nginx.access
    parser: combined
    paths: [/var/log/nginx/access.log*]
    exclude_files: ["*.gz"]
    labels: {team: web}
    scan_interval: 5s
  - dataset: app.java
    paths: [/var/log/app/*.log]
    multiline: {start: '^\d{4}-'}
    exclude_lines: [DEBUG]
`

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "harvester.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigAndDefaults(t *testing.T) {
	c, err := LoadConfig(writeConfig(t, sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	c, err = c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(false); err != nil {
		t.Fatal(err)
	}
	if c.Batch.Linger != 100*time.Millisecond || c.Window != 16 || c.CloseInactive != 2*time.Minute || len(c.Routers) != 2 {
		t.Errorf("parsed %+v", c)
	}
	if c.FingerprintBytes != 1024 || c.Host == "" || c.RouterService != "router" || c.AckTimeout != 2*time.Minute {
		t.Errorf("defaults %+v", c)
	}
	nginx, java := c.Inputs[0], c.Inputs[1]
	if nginx.ScanInterval != 5*time.Second || nginx.Labels["team"] != "web" || nginx.Parser != "combined" {
		t.Errorf("nginx input %+v", nginx)
	}
	if java.Name != "app.java" || java.Multiline.Timeout != 5*time.Second || java.ScanInterval != 10*time.Second {
		t.Errorf("java input %+v", java)
	}
}

func TestUnknownKeysAreErrors(t *testing.T) {
	_, err := LoadConfig(writeConfig(t, "registry: /r\ninputs:\n  - dataset: a\n    path: [/x]\n"))
	if err == nil || !strings.Contains(err.Error(), "path") {
		t.Fatalf("misspelt key accepted: %v", err)
	}
}

func TestValidation(t *testing.T) {
	base := func() Config {
		return Config{Registry: "/r", Routers: []string{"r:1"}, Inputs: []Input{{Dataset: "a", Paths: []string{"/x/*.log"}}}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no registry", func(c *Config) { c.Registry = "" }, "registry"},
		{"nowhere to ship", func(c *Config) { c.Routers = nil }, "routers or membership"},
		{"bad dataset", func(c *Config) { c.Inputs[0].Dataset = "Nginx Access" }, "dataset"},
		{"no paths", func(c *Config) { c.Inputs[0].Paths = nil }, "paths"},
		{"bad glob", func(c *Config) { c.Inputs[0].ExcludeFiles = []string{"[x"} }, "pattern"},
		{"bad regexp", func(c *Config) { c.Inputs[0].ExcludeLines = []string{"(x"} }, "exclude_lines"},
		{"bad multiline", func(c *Config) { c.Inputs[0].Multiline = &Multiline{} }, "multiline.start"},
		{"multiline timeout", func(c *Config) {
			c.Inputs[0].Multiline = &Multiline{Start: "^x", Timeout: time.Hour}
		}, "close_inactive"},
		{"duplicate names", func(c *Config) { c.Inputs = append(c.Inputs, c.Inputs[0]) }, "twice"},
		{"huge batches", func(c *Config) { c.Batch.MaxBytes = 64 << 20 }, "batch.max_bytes"},
		{"no inputs", func(c *Config) { c.Inputs = nil }, "inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(&c)
			c, err := c.withDefaults()
			if err == nil {
				err = c.validate(false)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error about %q, got %v", tc.want, err)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	f.Bind(fs)
	if f.Enabled() {
		t.Fatal("enabled without flags")
	}
	cfgPath := writeConfig(t, sampleConfig)
	err := fs.Parse([]string{"--harvester-config", cfgPath, "--harvester-paths", "/a/*.log, /b/*.log",
		"--harvester-dataset", "quick.logs", "--harvester-routers", "r9:1", "--harvester-registry", filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Inputs) != 3 || c.Inputs[2].Dataset != "quick.logs" || len(c.Inputs[2].Paths) != 2 || c.Inputs[2].Paths[1] != "/b/*.log" {
		t.Fatalf("quick input: %+v", c.Inputs)
	}
	if len(c.Routers) != 1 || c.Routers[0] != "r9:1" || filepath.Base(c.Registry) != "r.json" || c.Membership != "membership:9301" {
		t.Fatalf("overrides: %+v", c)
	}
	if _, err := New(c, testLogger(), prometheus.NewRegistry()); err != nil {
		t.Fatal(err)
	}

	f = Flags{Paths: "/x/*.log"}
	if _, err := f.Load(); err == nil {
		t.Fatal("quick input without a dataset accepted")
	}
}
