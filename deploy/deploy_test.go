// Package deploy holds the compose file and Kubernetes manifests of the split
// services; this test keeps them correct on paper: the compose YAML parses, the
// manifests decode strictly into Kubernetes' own types (k8s.io/api), every
// image is one Bazel builds or one e2e/images/build.sh tags, every
// HINDSIGHT_* variable is a real flag of the service it is given to (read
// from the binaries' own -help), and the ports are the services' defaults.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
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
			DependsOn   map[string]struct {
				Condition string `yaml:"condition"`
			} `yaml:"depends_on"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
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
		// Our images' tag is HINDSIGHT_IMAGE_TAG, latest unless set.
		svc := checkImage(t, where, strings.ReplaceAll(s.Image, "${HINDSIGHT_IMAGE_TAG:-latest}", "latest"))
		// up is ordered by health, not by sleeps: every dependency has a
		// health check and is waited for until healthy.
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", where)
		}
		for d, cond := range s.DependsOn {
			dep, ok := c.Services[d]
			if !ok {
				t.Errorf("%s: depends on unknown %s", where, d)
			}
			if cond.Condition != "service_healthy" || len(dep.Healthcheck.Test) == 0 {
				t.Errorf("%s: depends on %s with condition %q, want service_healthy (and a healthcheck there)", where, d, cond.Condition)
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
		// Authentication is on: every service is given the tokens.
		if s.Environment["HINDSIGHT_AUTH_TOKENS_FILE"] == "" || s.Environment["HINDSIGHT_AUTH_TOKEN_FILE"] == "" {
			t.Errorf("%s: no HINDSIGHT_AUTH_TOKENS_FILE and HINDSIGHT_AUTH_TOKEN_FILE: the service would not start", where)
		}
		// Ours check their own gRPC health with the CLI every image carries.
		if hc := s.Healthcheck.Test; len(hc) == 4 && hc[0] == "CMD" && hc[1] == "hindsight" && hc[2] == "health" {
			host, port, _ := strings.Cut(hc[3], ":")
			if host != "localhost" {
				t.Errorf("%s: health check of %s, not of localhost", where, hc[3])
			}
			checkPort(t, where+" healthcheck", svc, port)
		} else {
			t.Errorf("%s: healthcheck %q, want [CMD hindsight health localhost:<grpc port>]", where, hc)
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

// k8sScheme knows the kinds the manifests may hold, as Kubernetes' own Go types.
var k8sScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// decodeManifests decodes every YAML document of a manifest file into its
// k8s.io/api type with apimachinery's strict serializer (the one behind the API
// server's fieldValidation=Strict): an unknown or duplicate field is an error
// naming it, so a misspelt field fails here instead of being dropped by kubectl.
func decodeManifests(file string) ([]runtime.Object, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, k8sScheme, k8sScheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	r := kyaml.NewYAMLReader(bufio.NewReader(f))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if gvk.Kind == "" {
			return nil, fmt.Errorf("%s: an object without kind", file)
		}
		out = append(out, obj)
	}
}

// stripComments drops comment-only lines, so a document of only comments is empty.
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// TestStrictDecodingRejectsMisspeltFields proves the decoding above would catch a
// typo: the fixture is a valid Deployment but for one misspelt field.
func TestStrictDecodingRejectsMisspeltFields(t *testing.T) {
	for file, field := range map[string]string{
		"testdata/misspelt-field.yaml":   "containerPorts",
		"testdata/duplicate-field.yaml":  "image",
		"testdata/wrong-type-field.yaml": "replicas",
	} {
		_, err := decodeManifests(file)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: decoding error %v, want one naming %q", file, err, field)
		}
	}
	// And the same fixture with the field spelt right decodes.
	b, err := os.ReadFile("testdata/misspelt-field.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.yaml")
	if err := os.WriteFile(fixed, bytes.ReplaceAll(b, []byte("containerPorts"), []byte("containerPort")), 0o644); err != nil {
		t.Fatal(err)
	}
	if objs, err := decodeManifests(fixed); err != nil || len(objs) != 1 {
		t.Errorf("the corrected fixture: %d objects, %v", len(objs), err)
	}
}

// workload is what the checks need of a Deployment or DaemonSet.
type workload struct {
	kind     string
	meta     metav1.ObjectMeta
	selector *metav1.LabelSelector
	pod      corev1.PodTemplateSpec
}

func TestKubernetes(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	configMaps := map[string]map[string]string{}
	workloads := map[string]workload{}
	var svcObjs []*corev1.Service
	kinds := map[string]int{}
	for _, f := range files {
		objs, err := decodeManifests(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			meta, err := apimeta.Accessor(o)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kind := reflect.TypeOf(o).Elem().Name()
			kinds[kind]++
			if meta.GetName() == "" {
				t.Errorf("%s: a %s without a name", f, kind)
			}
			if kind != "Namespace" && meta.GetNamespace() != "hindsight" {
				t.Errorf("%s: %s/%s not in namespace hindsight", f, kind, meta.GetName())
			}
			switch o := o.(type) {
			case *corev1.Namespace:
			case *corev1.ConfigMap:
				configMaps[o.Name] = o.Data
			case *corev1.Service:
				svcObjs = append(svcObjs, o)
			case *appsv1.Deployment:
				workloads[o.Name] = workload{kind, o.ObjectMeta, o.Spec.Selector, o.Spec.Template}
			case *appsv1.DaemonSet:
				workloads[o.Name] = workload{kind, o.ObjectMeta, o.Spec.Selector, o.Spec.Template}
			default:
				t.Errorf("%s: %s/%s: a kind this test does not check", f, kind, meta.GetName())
			}
		}
	}
	for _, k := range []string{"Deployment", "DaemonSet", "Service", "ConfigMap"} {
		if kinds[k] == 0 {
			t.Errorf("no %s", k)
		}
	}
	for name, w := range workloads {
		checkWorkload(t, w.kind+" "+name, w, configMaps)
	}
	for _, want := range services {
		if _, ok := workloads[want]; !ok {
			t.Errorf("no workload %s", want)
		}
	}
	if workloads["agent"].kind != "DaemonSet" {
		t.Errorf("the agent is a %s, want a DaemonSet", workloads["agent"].kind)
	}
	for _, s := range svcObjs {
		w, ok := workloads[s.Name]
		if !ok {
			t.Errorf("Service %s: no workload of that name", s.Name)
			continue
		}
		for k, v := range s.Spec.Selector {
			if w.pod.Labels[k] != v {
				t.Errorf("Service %s: selector %s=%s selects no pod of %s", s.Name, k, v, s.Name)
			}
		}
		names := containerPortNames(w.pod.Spec)
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type == intstr.String && !slices.Contains(names, p.TargetPort.StrVal) {
				t.Errorf("Service %s: targetPort %s is no container port", s.Name, p.TargetPort.StrVal)
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

func containerPortNames(spec corev1.PodSpec) []string {
	var names []string
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			names = append(names, p.Name)
		}
	}
	return names
}

// checkWorkload: the selector selects the pods, images are ours, variables are
// flags, container ports are defaults and probes name container ports.
func checkWorkload(t *testing.T, where string, w workload, configMaps map[string]map[string]string) {
	t.Helper()
	if w.selector == nil {
		t.Errorf("%s: no selector", where)
	} else {
		for k, v := range w.selector.MatchLabels {
			if w.pod.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not select its pods", where, k, v)
			}
		}
	}
	names := containerPortNames(w.pod.Spec)
	for _, c := range w.pod.Spec.Containers {
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.Type == intstr.String && !slices.Contains(names, p.HTTPGet.Port.StrVal) {
				t.Errorf("%s: probe on port %s, no container port of that name", where, p.HTTPGet.Port.StrVal)
			}
		}
		svc := checkImage(t, where, c.Image)
		if svc == "" {
			continue
		}
		var vars []string
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil {
				continue
			}
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
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				r := e.ValueFrom.ConfigMapKeyRef
				if _, ok := configMaps[r.Name][r.Key]; !ok {
					t.Errorf("%s: %s from missing ConfigMap key %s/%s", where, e.Name, r.Name, r.Key)
				}
			}
		}
		checkEnv(t, where, svc, vars)
		// Authentication is on: the tokens file is named and mounted.
		if !slices.Contains(vars, "HINDSIGHT_AUTH_TOKENS_FILE") || !slices.Contains(vars, "HINDSIGHT_AUTH_TOKEN_FILE") {
			t.Errorf("%s: no HINDSIGHT_AUTH_TOKENS_FILE and HINDSIGHT_AUTH_TOKEN_FILE: the service would not start", where)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.MountPath == "/etc/hindsight/auth"
		}
		if !mounted {
			t.Errorf("%s: the hindsight-auth Secret is not mounted at /etc/hindsight/auth", where)
		}
		for _, p := range c.Ports {
			checkPort(t, where, svc, strconv.Itoa(int(p.ContainerPort)))
		}
	}
}
