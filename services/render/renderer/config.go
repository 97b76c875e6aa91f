package renderer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultPrefix is where the membership service keeps members.
const DefaultPrefix = "/hindsight/members/"

// Config is the renderer's configuration file (YAML):
//
//	prefix: /hindsight/members/      # where members live (the member helpers read it)
//	wait: {min: 100ms, max: 1s}      # default debounce of every template
//	templates:
//	  - name: haproxy
//	    src: /etc/hindsight/haproxy.cfg.tmpl
//	    dest: /usr/local/etc/haproxy/haproxy.cfg
//	    keys: [/hindsight/members/web/]   # prefixes watched (default: prefix)
//	    check_cmd: haproxy -c -f {{.src}}
//	    reload_cmd: kill -USR2 $(cat /run/haproxy.pid)
//	    mode: "0644"
//	    uid: 0
//	    gid: 0
//	    wait: {min: 50ms, max: 500ms}
//
// Relative src and dest paths are relative to the config file's directory.
type Config struct {
	Prefix    string     `yaml:"prefix"`
	Wait      Wait       `yaml:"wait"`
	Templates []Resource `yaml:"templates"`
}

// Wait is the debounce window: after a change, render once no further change
// came for Min, and at the latest Max after the first change of a burst.
type Wait struct {
	Min time.Duration `yaml:"min"`
	Max time.Duration `yaml:"max"`
}

// Resource is one template and what to do with its output.
type Resource struct {
	Name string `yaml:"name"`
	Src  string `yaml:"src"`
	Dest string `yaml:"dest"`
	// Keys are the etcd prefixes the template reads (getv, ls, members, ...).
	Keys []string `yaml:"keys"`
	// CheckCmd runs (with sh -c) on the candidate file, named by {{.src}},
	// before it replaces Dest; a non-zero exit keeps the old file.
	CheckCmd string `yaml:"check_cmd"`
	// ReloadCmd runs (with sh -c) after Dest was replaced.
	ReloadCmd string `yaml:"reload_cmd"`
	// Mode is the file mode in octal (default 0644); UID and GID the owner
	// (default: unchanged, the renderer's own).
	Mode string `yaml:"mode"`
	UID  *int   `yaml:"uid"`
	GID  *int   `yaml:"gid"`
	Wait *Wait  `yaml:"wait"`

	mode  os.FileMode
	check *template.Template
}

// Load reads and checks a config file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.normalize(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) normalize(dir string) error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.Wait.Min == 0 && c.Wait.Max == 0 {
		c.Wait = Wait{Min: 100 * time.Millisecond, Max: time.Second}
	}
	if err := c.Wait.check("wait"); err != nil {
		return err
	}
	if len(c.Templates) == 0 {
		return errors.New("no templates")
	}
	names := map[string]bool{}
	var errs []error
	for i := range c.Templates {
		r := &c.Templates[i]
		field := fmt.Sprintf("templates[%d]", i)
		if r.Name == "" {
			r.Name = strings.TrimSuffix(filepath.Base(r.Dest), filepath.Ext(r.Dest))
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name %q used twice", field, r.Name))
		}
		names[r.Name] = true
		if r.Src == "" || r.Dest == "" {
			errs = append(errs, fmt.Errorf("%s: src and dest are required", field))
			continue
		}
		if !filepath.IsAbs(r.Src) {
			r.Src = filepath.Join(dir, r.Src)
		}
		if !filepath.IsAbs(r.Dest) {
			r.Dest = filepath.Join(dir, r.Dest)
		}
		if len(r.Keys) == 0 {
			r.Keys = []string{c.Prefix}
		}
		for _, k := range r.Keys {
			if !strings.HasPrefix(k, "/") {
				errs = append(errs, fmt.Errorf("%s: key %q must start with /", field, k))
			}
		}
		r.mode = 0o644
		if r.Mode != "" {
			m, err := strconv.ParseUint(r.Mode, 8, 32)
			if err != nil || m > 0o7777 {
				errs = append(errs, fmt.Errorf("%s: mode %q is not an octal file mode", field, r.Mode))
			}
			r.mode = os.FileMode(m)
		}
		if r.Wait == nil {
			w := c.Wait
			r.Wait = &w
		} else if err := r.Wait.check(field + ".wait"); err != nil {
			errs = append(errs, err)
		}
		if r.CheckCmd != "" {
			t, err := template.New("check_cmd").Option("missingkey=error").Parse(r.CheckCmd)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: check_cmd: %w", field, err))
			}
			r.check = t
		}
	}
	return errors.Join(errs...)
}

func (w *Wait) check(field string) error {
	switch {
	case w.Min < 0 || w.Max < 0:
		return fmt.Errorf("%s: min and max must not be negative", field)
	case w.Max == 0:
		w.Max = max(w.Min, time.Second)
	case w.Max < w.Min:
		return fmt.Errorf("%s: max %s is below min %s", field, w.Max, w.Min)
	}
	return nil
}
