package parse

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

// corpusDatasets are real public logs (testdata/corpus, see its README) with
// the parser configuration a user would write for each, and the file date
// the agent would send for the year-less ones (their year is not in the
// line). Each .times file holds the time of each line as the corpus's own
// structured version gives it.
var corpusDatasets = []struct {
	name     string
	cfg      *routingv1.Parser
	fileTime time.Time
}{
	{"apache_error", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX, Pattern: `^%{HTTPD_ERRORLOG}$`}, time.Time{}},
	{"linux_syslog", &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164}, endOfYear(2005)},
	{"mac_syslog", &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164}, endOfYear(2017)},
	{"openssh", &routingv1.Parser{Format: routingv1.Parser_FORMAT_SYSLOG_RFC3164}, endOfYear(2017)},
	{"android", &routingv1.Parser{
		Format:             routingv1.Parser_FORMAT_REGEX,
		PatternDefinitions: map[string]string{"LOGCAT_LEVEL": `[VDIWEFA]`},
		Pattern:            `^(?P<timestamp>\d\d-\d\d %{TIME}) +%{INT:process.pid:int} +%{INT:process.thread.id:int} %{LOGCAT_LEVEL:log.level} %{DATA:log.logger}: ?%{GREEDYDATA:message}$`,
		TimestampLayout:    "MM-dd HH:mm:ss.SSS",
		Processors: []*routingv1.Processor{{Op: routingv1.Processor_OP_MAP, Field: "log.level",
			Mapping: map[string]string{"v": "trace", "d": "debug", "i": "info", "w": "warn", "e": "error", "f": "fatal", "a": "fatal"}}},
	}, endOfYear(2017)},
	{"zookeeper", &routingv1.Parser{Format: routingv1.Parser_FORMAT_REGEX,
		Pattern: `^%{TIMESTAMP_ISO8601:timestamp} - %{LOGLEVEL:log.level} +\[%{DATA:process.thread.name}\] - %{GREEDYDATA:message}$`}, time.Time{}},
}

func endOfYear(y int) time.Time { return time.Date(y, 12, 31, 23, 59, 59, 0, time.UTC) }

// TestCorpus parses each dataset of the corpus and requires at least 99.5%
// of its lines parsed and 99.5% of their times exact; it prints the table.
func TestCorpus(t *testing.T) {
	var table strings.Builder
	fmt.Fprintf(&table, "%-14s %6s %8s %8s\n", "dataset", "lines", "parsed", "exact-ts")
	for _, d := range corpusDatasets {
		p, err := New(d.cfg)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		lines := readLines(t, "testdata/corpus/"+d.name+".log")
		times := readLines(t, "testdata/corpus/"+d.name+".times")
		if len(lines) != len(times) {
			t.Fatalf("%s: %d lines, %d times", d.name, len(lines), len(times))
		}
		parsed, exact := 0, 0
		for i, l := range lines {
			e := p.Parse(Input{Line: []byte(l), ReadTime: time.Now(), FileTime: d.fileTime})
			p.Process(e, nil)
			if !Failed(e) {
				parsed++
			} else if parsed < 5 {
				t.Logf("%s line %d not parsed: %s", d.name, i+1, e.GetFields().AsMap()["error.message"])
			}
			want, err := time.Parse(time.RFC3339Nano, times[i])
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Timestamp.AsTime(); got.Equal(want) && !has(e.Tags, TagTimestampFallback) {
				exact++
			} else if i-exact < 5 {
				t.Logf("%s line %d: time %s, want %s", d.name, i+1, got.Format(time.RFC3339Nano), times[i])
			}
		}
		fmt.Fprintf(&table, "%-14s %6d %7.1f%% %7.1f%%\n", d.name, len(lines), 100*float64(parsed)/float64(len(lines)), 100*float64(exact)/float64(len(lines)))
		if parsed*1000 < len(lines)*995 || exact*1000 < len(lines)*995 {
			t.Errorf("%s: %d of %d parsed, %d exact times; want 99.5%% of each", d.name, parsed, len(lines), exact)
		}
	}
	fmt.Print(table.String())
}

// readLines splits a file at "\n" or "\r\n", as the agent does.
func readLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
