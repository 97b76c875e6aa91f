// Command ocibuild assembles a container image from layer tarballs (pkg_tar outputs)
// with go-containerregistry and writes a docker-archive tarball for `docker load`.
// It needs no registry and no Docker engine, and its output depends only on its
// inputs: every timestamp is fixed, so the same layers give the same image digest.
//
// It is run by the oci_image_tarball rule in //tools/images:image.bzl.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// repeated collects a flag given several times, in order.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

type options struct {
	out, base, tag, user, workdir, arch, created string
	layers, env, entrypoint, cmd, labels, ports  repeated
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "", "output docker-archive tarball (required)")
	flag.StringVar(&o.base, "base", "", "base image tarball (docker-archive); default: empty (FROM scratch)")
	flag.StringVar(&o.tag, "tag", "", "repository:tag recorded in the tarball (required)")
	flag.StringVar(&o.user, "user", "", "user (name or uid[:gid]) the entrypoint runs as")
	flag.StringVar(&o.workdir, "workdir", "", "working directory")
	flag.StringVar(&o.arch, "arch", "amd64", "architecture")
	flag.StringVar(&o.created, "created", "1970-01-01T00:00:00Z", "creation time (RFC 3339) of the image and its layers")
	flag.Var(&o.layers, "layer", "layer tarball, bottom first (repeatable)")
	flag.Var(&o.env, "env", "KEY=VALUE (repeatable)")
	flag.Var(&o.entrypoint, "entrypoint", "entrypoint element (repeatable)")
	flag.Var(&o.cmd, "cmd", "cmd element (repeatable)")
	flag.Var(&o.labels, "label", "KEY=VALUE (repeatable)")
	flag.Var(&o.ports, "expose", "exposed port, e.g. 8080/tcp (repeatable)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ocibuild:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.out == "" || o.tag == "" {
		return errors.New("--out and --tag are required")
	}
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	created, err := time.Parse(time.RFC3339, o.created)
	if err != nil {
		return fmt.Errorf("--created: %w", err)
	}
	img, err := build(o, v1.Time{Time: created.UTC()})
	if err != nil {
		return err
	}
	return tarball.WriteToFile(o.out, tag, img)
}

func build(o options, created v1.Time) (v1.Image, error) {
	img := empty.Image
	if o.base != "" {
		base, err := tarball.ImageFromPath(o.base, nil)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", o.base, err)
		}
		img = base
	}
	for _, path := range o.layers {
		layer, err := tarball.LayerFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", path, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: created, CreatedBy: "ocibuild: " + filepath.Base(path)},
		})
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", path, err)
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	c := &cf.Config
	c.Env = append(c.Env, o.env...)
	if len(o.entrypoint) > 0 {
		c.Entrypoint = o.entrypoint
		c.Cmd = nil // a base image's cmd was meant for its own entrypoint
	}
	if len(o.cmd) > 0 {
		c.Cmd = o.cmd
	}
	if o.workdir != "" {
		c.WorkingDir = o.workdir
	}
	if o.user != "" {
		c.User = o.user
	}
	for _, kv := range o.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--label %q: want KEY=VALUE", kv)
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = v
	}
	for _, p := range o.ports {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, created)
}
