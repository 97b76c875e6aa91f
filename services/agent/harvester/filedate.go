package harvester

import (
	"os"
	"regexp"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// backfillAge is how long ago a file must have been last written for its
// lines to be taken as back-filled: their year-less times then take the
// file's own date as reference rather than the time they are read.
const backfillAge = 24 * time.Hour

// pathDate finds a date in a path: 2015/10/21, 2015-10-21, 20151021 (the
// last one in the path wins: it is the most specific).
var pathDate = regexp.MustCompile(`(?:^|[^0-9])((?:19|20)\d\d)[-/_.]?(0[1-9]|1[0-2])[-/_.]?(0[1-9]|[12]\d|3[01])(?:[^0-9]|$)`)

// fileTime is the date RawLine.file_time carries for a file at path, or nil
// for a file written within backfillAge of now.
func fileTime(path string, info os.FileInfo, now time.Time) *timestamppb.Timestamp {
	if info == nil || now.Sub(info.ModTime()) < backfillAge {
		return nil
	}
	if all := pathDate.FindAllStringSubmatch(path, -1); len(all) > 0 {
		m := all[len(all)-1]
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		if day := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC); day.Day() == d && day.Before(now) {
			return timestamppb.New(day.AddDate(0, 0, 1).Add(-time.Second))
		}
	}
	return timestamppb.New(info.ModTime())
}
