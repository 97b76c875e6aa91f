package offsets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r := Store{Path: filepath.Join(dir, "sub", "registry.json"), FingerprintBytes: 1024}
	got, err := r.Load()
	if err != nil || len(got) != 0 {
		t.Fatalf("missing registry: %v %v", got, err)
	}
	want := []Entry{
		{ID: "b", Input: "in", Path: "/x/b.log", Offset: 10, Dev: 1, Ino: 2},
		{ID: "a", Input: "in", Path: "/x/a.gz", Offset: 99, Done: true},
	}
	if err := r.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err = r.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []Entry{want[1], want[0]}) {
		t.Fatalf("got %+v", got)
	}
	// Replacing leaves no temporary files behind.
	if err := r.Save(want[:1]); err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(filepath.Dir(r.Path))
	if len(names) != 1 {
		t.Fatalf("directory holds %v", names)
	}
}

func TestRefusesOtherFingerprintLengthAndGarbage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.json")
	if err := (Store{Path: path, FingerprintBytes: 64}).Save(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := (Store{Path: path, FingerprintBytes: 1024}).Load(); err == nil || !strings.Contains(err.Error(), "fingerprint_bytes") {
		t.Fatalf("want a fingerprint length error, got %v", err)
	}
	os.WriteFile(path, []byte(`{"version":1,"files":[`), 0o644)
	if _, err := (Store{Path: path, FingerprintBytes: 64}).Load(); err == nil {
		t.Fatal("a torn registry loaded")
	}
}
