package fingerprint

import (
	"bytes"
	"strings"
	"testing"
)

func TestHeadShortAndLong(t *testing.T) {
	r := strings.NewReader("hello")
	h, err := Head(r, 1024)
	if err != nil || string(h) != "hello" {
		t.Fatalf("short: %q %v", h, err)
	}
	long := bytes.Repeat([]byte("x"), 5000)
	h, err = Head(bytes.NewReader(long), 1024)
	if err != nil || len(h) != 1024 {
		t.Fatalf("long: %d %v", len(h), err)
	}
}

func TestIDDependsOnContentOnly(t *testing.T) {
	a, b := ID([]byte("first line\n")), ID([]byte("first line\n"))
	if a != b || len(a) != 32 {
		t.Fatalf("same content, ids %q %q", a, b)
	}
	if ID([]byte("other line\n")) == a {
		t.Fatal("different content, same id")
	}
}
