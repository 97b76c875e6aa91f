package source

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	_ "gocloud.dev/blob/fileblob"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func writeGz(t *testing.T, dir, name string, content []byte) File {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(content)
	zw.Close()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return File{Path: name, Dataset: "error", Day: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func readAll(t *testing.T, dir string, f File) ([]map[string]any, error) {
	t.Helper()
	l, err := OpenLegacy(context.Background(), "file://"+dir, "{dataset}/{yyyy}/{mm}/{dd}/*.gz", &routingv1.Parser{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var docs []map[string]any
	err = l.Read(context.Background(), f, func(r Record, _ int64) error {
		var d map[string]any
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			return err
		}
		docs = append(docs, d)
		return nil
	})
	return docs, err
}

// A line longer than MaxLineBytes is cut there; the lines after it keep
// their true offsets.
func TestLegacyLineCap(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 3<<20)
	f := writeGz(t, dir, "a.gz", []byte("first\n"+long+"\nlast\n"))
	docs, err := readAll(t, dir, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d events, want 3", len(docs))
	}
	if m := docs[1]["message"].(string); len(m) != MaxLineBytes {
		t.Fatalf("long line kept as %d bytes, want %d", len(m), MaxLineBytes)
	}
	off := docs[2]["log"].(map[string]any)["offset"].(float64)
	if want := float64(len("first\n") + len(long) + 1); docs[2]["message"] != "last" || off != want {
		t.Fatalf("last line %v at offset %v, want offset %v", docs[2]["message"], off, want)
	}
}

// A gzip bomb stops at MaxDecompressedBytes with an error naming the file.
func TestLegacyDecompressedCap(t *testing.T) {
	defer func(n int64) { MaxDecompressedBytes = n }(MaxDecompressedBytes)
	MaxDecompressedBytes = 1 << 20
	dir := t.TempDir()
	f := writeGz(t, dir, "bomb.gz", bytes.Repeat([]byte("aaaaaaa\n"), 4<<20/8))
	docs, err := readAll(t, dir, f)
	if err == nil || !strings.Contains(err.Error(), "bomb.gz: expands beyond 1048576 bytes") {
		t.Fatalf("err %v", err)
	}
	if len(docs) > (1<<20)/8+1 {
		t.Fatalf("%d events read past the cap", len(docs))
	}
}
