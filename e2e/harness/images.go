package harness

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bazelbuild/rules_go/go/runfiles"
	"github.com/moby/moby/client"
)

var loaded sync.Map // tarball path -> repo tag

// LoadImage loads one of Hindsight's Bazel-built image tarballs into the engine and
// returns its tag (e.g. hindsight/membership:latest). tarPath is the tarball's path
// in the workspace, e.g. "images/membership_image.tar".
//
// Under `bazel test` the tarball is found in the runfiles: list its target (e.g.
// //images:membership_image) in the go_test's data. Under plain `go test` it is read
// from bazel-bin/, and the test fails saying which target to build if it is missing.
// An image the engine already has (same id and tag) is not loaded again.
func LoadImage(t testing.TB, tarPath string) string {
	t.Helper()
	file, err := findTarball(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if tag, ok := loaded.Load(file); ok {
		return tag.(string)
	}
	tag, err := loadTarball(context.Background(), docker(t), file)
	if err != nil {
		t.Fatalf("load %s: %v", tarPath, err)
	}
	loaded.Store(file, tag)
	return tag
}

// ImageID is the id (sha256:<config digest>) of the image in a tarball
// LoadImage takes: a name for that image that another load of the same tag
// cannot change, e.g. to tag it for one test alone.
func ImageID(t testing.TB, tarPath string) string {
	t.Helper()
	file, err := findTarball(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readManifest(file)
	if err != nil {
		t.Fatalf("%s: %v", tarPath, err)
	}
	return manifestImageID(m)
}

func manifestImageID(m archiveManifest) string {
	return "sha256:" + strings.TrimSuffix(strings.TrimPrefix(m.Config, "sha256:"), ".json")
}

// bazelLabel guesses the target that builds a tarball: images/x_image.tar -> //images:x_image.
func bazelLabel(tarPath string) string {
	dir, file := path.Split(filepath.ToSlash(tarPath))
	return "//" + strings.TrimSuffix(dir, "/") + ":" + strings.TrimSuffix(file, ".tar")
}

func underBazel() bool {
	return os.Getenv("TEST_SRCDIR") != "" || os.Getenv("RUNFILES_DIR") != "" || os.Getenv("RUNFILES_MANIFEST_FILE") != ""
}

func findTarball(tarPath string) (string, error) {
	if filepath.IsAbs(tarPath) {
		return tarPath, nil
	}
	label := bazelLabel(tarPath)
	if underBazel() {
		// "_main" is the main module's repository in the runfiles tree.
		p, err := runfiles.Rlocation(path.Join("_main", filepath.ToSlash(tarPath)))
		if err == nil {
			if _, err = os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("image tarball %s is not in the runfiles (%v): add %s to the go_test's data", tarPath, err, label)
	}
	root, err := workspaceRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bazel-bin", tarPath)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("image tarball %s not found: build it first with `tools/bazel build %s`", p, label)
	}
	return p, nil
}

// workspaceRoot is the nearest directory above the working directory holding MODULE.bazel.
func workspaceRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "MODULE.bazel")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no MODULE.bazel above the working directory: run the test inside the workspace")
		}
		dir = parent
	}
}

// archiveManifest is one entry of a docker-archive tarball's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
}

func readManifest(file string) (archiveManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return archiveManifest{}, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return archiveManifest{}, errors.New("no manifest.json: not a docker-archive tarball")
		}
		if err != nil {
			return archiveManifest{}, err
		}
		if h.Name != "manifest.json" {
			continue
		}
		var ms []archiveManifest
		if err := json.NewDecoder(tr).Decode(&ms); err != nil {
			return archiveManifest{}, fmt.Errorf("manifest.json: %w", err)
		}
		if len(ms) != 1 || len(ms[0].RepoTags) == 0 {
			return archiveManifest{}, errors.New("manifest.json: want one image with a tag")
		}
		return ms[0], nil
	}
}

func loadTarball(ctx context.Context, cli *client.Client, file string) (string, error) {
	m, err := readManifest(file)
	if err != nil {
		return "", err
	}
	tag := m.RepoTags[0]
	// The image id is its config's digest: skip the load when the tag already names it.
	id := manifestImageID(m)
	if img, err := cli.ImageInspect(ctx, tag); err == nil && img.ID == id {
		return tag, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	res, err := cli.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return "", err
	}
	defer res.Close()
	// The answer is a JSON message stream; a failed load reports an error in it.
	dec := json.NewDecoder(res)
	for {
		var msg struct {
			Stream      string
			ErrorDetail *struct{ Message string }
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", err
		}
		if msg.ErrorDetail != nil {
			return "", errors.New(msg.ErrorDetail.Message)
		}
	}
	img, err := cli.ImageInspect(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("after load: %w", err)
	}
	if img.ID != id {
		return "", fmt.Errorf("after load: %s is %s, want %s", tag, img.ID, id)
	}
	return tag, nil
}
