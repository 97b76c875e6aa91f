package renderer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// cmdTimeout bounds a check or reload command.
const cmdTimeout = 30 * time.Second

// Outcome of one render of a resource.
type Outcome struct {
	Changed  bool   // dest was replaced (and reloaded)
	Checksum string // sha256 of the rendered output
	Err      error
	Stage    string // where it failed: template, check, write, reload
}

// render executes the resource's template on a view and, if the output
// differs from dest, checks it, replaces dest atomically and reloads.
func (r *Renderer) render(ctx context.Context, res *Resource, v *view) Outcome {
	src, err := os.ReadFile(res.Src) // read each time: editing a template takes effect at the next change
	if err != nil {
		return Outcome{Err: err, Stage: "template"}
	}
	t, err := template.New(filepath.Base(res.Src)).Funcs(v.funcs()).Parse(string(src))
	if err != nil {
		return Outcome{Err: err, Stage: "template"}
	}
	var out bytes.Buffer
	if err := t.Execute(&out, nil); err != nil {
		return Outcome{Err: err, Stage: "template"}
	}
	sum := sha256.Sum256(out.Bytes())
	o := Outcome{Checksum: hex.EncodeToString(sum[:])}
	if cur, err := os.ReadFile(res.Dest); err == nil && bytes.Equal(cur, out.Bytes()) {
		return o
	}
	tmp, err := stage(res, out.Bytes())
	if err != nil {
		o.Err, o.Stage = err, "write"
		return o
	}
	defer os.Remove(tmp) // gone after the rename; removes a rejected candidate
	if res.check != nil {
		var cmd strings.Builder
		if err := res.check.Execute(&cmd, map[string]string{"src": tmp}); err != nil {
			o.Err, o.Stage = fmt.Errorf("check_cmd: %w", err), "check"
			return o
		}
		if err := run(ctx, cmd.String()); err != nil {
			o.Err, o.Stage = fmt.Errorf("check command rejected the new %s (kept the old one): %w", res.Dest, err), "check"
			return o
		}
	}
	if r.opts.Noop {
		o.Stage = "noop"
		return o
	}
	if err := os.Rename(tmp, res.Dest); err != nil {
		o.Err, o.Stage = err, "write"
		return o
	}
	o.Changed = true
	if res.ReloadCmd != "" {
		if err := run(ctx, res.ReloadCmd); err != nil {
			o.Err, o.Stage = fmt.Errorf("reload: %w", err), "reload"
		}
	}
	return o
}

// stage writes the candidate next to dest (same file system, so the rename
// that replaces dest is atomic) with dest's mode and owner, synced to disk.
func stage(res *Resource, b []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(res.Dest), "."+filepath.Base(res.Dest)+".hindsight-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Chmod(res.mode); err != nil {
		return fail(err)
	}
	if res.UID != nil || res.GID != nil {
		uid, gid := -1, -1
		if res.UID != nil {
			uid = *res.UID
		}
		if res.GID != nil {
			gid = *res.GID
		}
		if err := f.Chown(uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// run runs a command line with sh -c; its output goes into the error.
func run(ctx context.Context, line string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		if msg == "" {
			return fmt.Errorf("%q: %w", line, err)
		}
		return fmt.Errorf("%q: %w: %s", line, err, msg)
	}
	return nil
}
