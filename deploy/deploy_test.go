// Package deploy holds the compose file and Kubernetes manifests of the split
// services; this test keeps them correct on paper: the YAML parses, every
// image is one Bazel builds or one e2e/images/build.sh tags, every
// HINDSIGHT_* variable is a real flag of the service it is given to (read
// from the binaries' own -help), and the ports are the services' defaults.
package deploy

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Paths to the service binaries, passed by Bazel (go test without them skips
// the flag and port checks).
var binaries = map[string]*string{}

var services = []string{"router", "archiver", "indexer", "replay", "topology", "membership", "gateway", "agent"}

func init() {
	for _, s := range services {
		binaries[s] = flag.String(s, "", "path of the "+s+" binary")
	}
}

// path resolves a runfiles path (Bazel) or a path relative to the repository.
func path(p string) string {
	if d := os.Getenv("TEST_SRCDIR"); d != "" {
		if ws := os.Getenv("TEST_WORKSPACE"); ws != "" {
			if _, err := os.Stat(filepath.Join(d, ws, p)); err == nil {
				return filepath.Join(d, ws, p)
			}
		}
	}
	return filepath.Join("..", p)
}

// ourImages are the names images/BUILD.bazel gives its go_service_image targets.
func ourImages(t *testing.T) []string {
	b, err := os.ReadFile(path("images/BUILD.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?s)go_service_image\(\s*name = "([a-z0-9_-]+)"`).FindAllSubmatch(b, -1) {
		out = append(out, "hindsight/"+string(m[1])+":latest")
	}
	if len(out) < 5 {
		t.Fatalf("images/BUILD.bazel: found only %v", out)
	}
	return out
}

// thirdPartyImages are the tags e2e/images/build.sh builds.
func thirdPartyImages(t *testing.T) []string {
	b, err := os.ReadFile(path("e2e/images/build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s*tag=(hindsight-e2e/[a-z0-9._-]+:[a-z0-9._-]+)`).FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) < 3 {
		t.Fatalf("e2e/images/build.sh: found only %v", out)
	}
	return out
}

// help is what a service's -help says: its flags and their defaults.
type help struct {
	flags map[string]string // name → default ("" when none)
}

func (h help) ports() []string {
	var out []string
	for n, d := range h.flags {
		if strings.HasSuffix(n, "-addr") && strings.HasPrefix(d, ":") {
			out = append(out, strings.TrimPrefix(d, ":"))
		}
	}
	return out
}

var helps = map[string]help{}

func serviceHelp(t *testing.T, svc string) (help, bool) {
	t.Helper()
	if h, ok := helps[svc]; ok {
		return h, true
	}
	bin := *binaries[svc]
	if bin == "" {
		return help{}, false
	}
	var out bytes.Buffer
	cmd := exec.Command(path(bin), "-help")
	if _, err := os.Stat(bin); err == nil {
		cmd = exec.Command(bin, "-help")
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s -help: %v", svc, err)
		}
	}
	h := help{flags: map[string]string{}}
	name := ""
	for _, line := range strings.Split(out.String(), "\n") {
		if m := regexp.MustCompile(`^  -([a-z0-9-]+)`).FindStringSubmatch(line); m != nil {
			name = m[1]
			h.flags[name] = ""
		}
		if m := regexp.MustCompile(`\(default "?([^")]*)"?\)\s*$`).FindStringSubmatch(line); m != nil && name != "" {
			h.flags[name] = m[1]
		}
	}
	if len(h.flags) < 5 {
		t.Fatalf("%s -help: no flags in %q", svc, out.String())
	}
	helps[svc] = h
	return h, true
}

// envFlag is the flag an environment variable sets (internal/flagenv).
func envFlag(v string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v, "HINDSIGHT_")), "_", "-")
}

func checkEnv(t *testing.T, where, svc string, vars []string) {
	t.Helper()
	h, ok := serviceHelp(t, svc)
	if !ok {
		return
	}
	for _, v := range vars {
		if !strings.HasPrefix(v, "HINDSIGHT_") {
			continue
		}
		if _, ok := h.flags[envFlag(v)]; !ok {
			t.Errorf("%s: %s sets %s, but %s has no flag --%s", where, svc, v, svc, envFlag(v))
		}
	}
}

func checkImage(t *testing.T, where, image string) (service string) {
	t.Helper()
	if slices.Contains(thirdPartyImages(t), image) {
		return ""
	}
	if !slices.Contains(ourImages(t), image) {
		t.Errorf("%s: image %s is neither built by //images nor tagged by e2e/images/build.sh", where, image)
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(image, "hindsight/"), ":latest")
}

func checkPort(t *testing.T, where, svc, port string) {
	t.Helper()
	h, ok := serviceHelp(t, svc)
	if !ok {
		return
	}
	if !slices.Contains(h.ports(), port) {
		t.Errorf("%s: %s port %s is none of its default listen ports %v", where, svc, port, h.ports())
	}
}

func TestCompose(t *testing.T) {
	if *binaries["router"] == "" {
		t.Log("no service binaries given (they are under Bazel): flag and port checks skipped")
	}
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Expose      []string          `yaml:"expose"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   []string          `yaml:"depends_on"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range append([]string{"kafka", "opensearch", "etcd"}, services...) {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("compose.yaml: no service %s", want)
		}
	}
	for name, s := range c.Services {
		where := "compose.yaml " + name
		svc := checkImage(t, where, s.Image)
		for _, d := range s.DependsOn {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("%s: depends on unknown %s", where, d)
			}
		}
		for _, v := range s.Volumes {
			if vol, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(vol, "/") && !strings.HasPrefix(vol, ".") {
				if _, ok := c.Volumes[vol]; !ok {
					t.Errorf("%s: volume %s not declared", where, vol)
				}
			}
		}
		if svc == "" {
			continue
		}
		var vars []string
		for k := range s.Environment {
			vars = append(vars, k)
		}
		checkEnv(t, where, svc, vars)
		for _, p := range s.Expose {
			checkPort(t, where, svc, p)
		}
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			checkPort(t, where, svc, parts[len(parts)-1])
		}
		// Endpoints given to one service name the others' default gRPC ports.
		for k, v := range s.Environment {
			if strings.HasSuffix(k, "_ENDPOINT") || strings.HasSuffix(k, "_ROUTERS") {
				host, port, _ := strings.Cut(v, ":")
				if _, ok := c.Services[host]; !ok {
					t.Errorf("%s: %s=%s names no service", where, k, v)
					continue
				}
				checkPort(t, where+" "+k, host, port)
			}
		}
	}
}

type k8sContainer struct {
	Name    string `yaml:"name"`
	Image   string `yaml:"image"`
	EnvFrom []struct {
		ConfigMapRef struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name      string `yaml:"name"`
		ValueFrom struct {
			ConfigMapKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
}

type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Port       int `yaml:"port"`
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

func TestKubernetes(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Errorf("%s: an object without kind, apiVersion or name", f)
				continue
			}
			if o.Kind != "Namespace" && o.Metadata.Namespace != "hindsight" {
				t.Errorf("%s: %s/%s not in namespace hindsight", f, o.Kind, o.Metadata.Name)
			}
			objs = append(objs, o)
		}
	}
	configMaps := map[string]map[string]string{}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
		if o.Kind == "ConfigMap" {
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	for _, k := range []string{"Deployment", "DaemonSet", "Service", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("no %s", k)
		}
	}
	workloads := map[string]k8sObject{}
	for _, o := range objs {
		if o.Kind != "Deployment" && o.Kind != "DaemonSet" {
			continue
		}
		workloads[o.Metadata.Name] = o
		where := o.Kind + " " + o.Metadata.Name
		for k, v := range o.Spec.Selector.MatchLabels {
			if o.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not select its pods", where, k, v)
			}
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			svc := checkImage(t, where, c.Image)
			if svc == "" {
				continue
			}
			var vars []string
			for _, ef := range c.EnvFrom {
				data, ok := configMaps[ef.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: envFrom unknown ConfigMap %s", where, ef.ConfigMapRef.Name)
				}
				for k := range data {
					vars = append(vars, k)
				}
			}
			for _, e := range c.Env {
				vars = append(vars, e.Name)
				if r := e.ValueFrom.ConfigMapKeyRef; r.Name != "" {
					if _, ok := configMaps[r.Name][r.Key]; !ok {
						t.Errorf("%s: %s from missing ConfigMap key %s/%s", where, e.Name, r.Name, r.Key)
					}
				}
			}
			checkEnv(t, where, svc, vars)
			for _, p := range c.Ports {
				checkPort(t, where, svc, strconv.Itoa(p.ContainerPort))
			}
		}
	}
	for _, want := range services {
		if _, ok := workloads[want]; !ok {
			t.Errorf("no workload %s", want)
		}
	}
	if workloads["agent"].Kind != "DaemonSet" {
		t.Errorf("the agent is a %s, want a DaemonSet", workloads["agent"].Kind)
	}
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		w, ok := workloads[o.Metadata.Name]
		if !ok {
			t.Errorf("Service %s: no workload of that name", o.Metadata.Name)
			continue
		}
		var names []string
		for _, c := range w.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				names = append(names, p.Name)
			}
		}
		for _, p := range o.Spec.Ports {
			if tp, ok := p.TargetPort.(string); ok && !slices.Contains(names, tp) {
				t.Errorf("Service %s: targetPort %s is no container port", o.Metadata.Name, tp)
			}
		}
	}
	// Endpoints in ConfigMaps name Services on the services' default ports.
	for cm, data := range configMaps {
		for k, v := range data {
			if !strings.HasSuffix(k, "_ENDPOINT") && !strings.HasSuffix(k, "_ROUTERS") {
				continue
			}
			host, port, _ := strings.Cut(v, ":")
			if _, ok := workloads[host]; ok {
				checkPort(t, "ConfigMap "+cm+" "+k, host, port)
			}
		}
	}
}
