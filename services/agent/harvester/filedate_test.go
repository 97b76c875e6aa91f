package harvester

import (
	"os"
	"testing"
	"time"
)

type fakeInfo struct {
	os.FileInfo
	mtime time.Time
}

func (f fakeInfo) ModTime() time.Time { return f.mtime }

func TestFileTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	old := fakeInfo{mtime: time.Date(2019, 3, 5, 10, 0, 0, 0, time.UTC)}
	for _, c := range []struct {
		path string
		info os.FileInfo
		want string // "" for nil
	}{
		{"/var/log/app.log", fakeInfo{mtime: now.Add(-time.Hour)}, ""},
		{"/var/log/2026/12/01/app.log", fakeInfo{mtime: now.Add(-time.Hour)}, ""}, // still written: live
		{"/var/log/app.log.1", old, "2019-03-05T10:00:00Z"},
		{"/archive/2015/10/21/web-1.log.gz", old, "2015-10-21T23:59:59Z"},
		{"/archive/app-20151021.log", old, "2015-10-21T23:59:59Z"},
		{"/archive/2014-01-01/app-2015-10-21.log", old, "2015-10-21T23:59:59Z"},
		{"/archive/2015-02-30/app.log", old, "2019-03-05T10:00:00Z"}, // not a date
		{"/archive/build-123456789/app.log", old, "2019-03-05T10:00:00Z"},
	} {
		got := fileTime(c.path, c.info, now)
		if (got == nil) != (c.want == "") || got != nil && got.AsTime().Format(time.RFC3339) != c.want {
			t.Errorf("%s: %v, want %q", c.path, got.AsTime(), c.want)
		}
	}
}
