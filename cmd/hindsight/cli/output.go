package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// format is an -o/--output value: table for people, json (one document) or
// ndjson (one object a line) for programs.
type format string

const (
	formatTable  format = "table"
	formatJSON   format = "json"
	formatNDJSON format = "ndjson"
)

func (f *format) String() string { return string(*f) }
func (f *format) Type() string   { return "table|json|ndjson" }
func (f *format) Set(s string) error {
	switch format(s) {
	case formatTable, formatJSON, formatNDJSON:
		*f = format(s)
		return nil
	}
	return fmt.Errorf("want table, json or ndjson")
}

func bindFormat(c *cobra.Command, f *format) {
	*f = formatTable
	c.Flags().VarP(f, "output", "o", "output format: table, json or ndjson")
	_ = c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "ndjson"}, cobra.ShellCompDirectiveNoFileComp))
}

var (
	jsonPretty = protojson.MarshalOptions{Multiline: true, Indent: "  "}
	jsonLine   = protojson.MarshalOptions{}
)

// writeJSON prints m as one indented JSON document.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonPretty.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeNDJSON prints each message as JSON on one line.
func writeNDJSON[M proto.Message](w io.Writer, ms []M) error {
	for _, m := range ms {
		b, err := jsonLine.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}

// table prints rows under a header, aligned.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// timeValue is a --from/--to flag: RFC 3339, a date (UTC midnight), or a
// duration ago ("2h" is two hours ago).
type timeValue struct {
	t   time.Time
	now func() time.Time
}

func (v *timeValue) String() string {
	if v.t.IsZero() {
		return ""
	}
	return v.t.Format(time.RFC3339)
}
func (v *timeValue) Type() string { return "time" }
func (v *timeValue) Set(s string) error {
	t, err := parseTime(s, v.now())
	if err != nil {
		return err
	}
	v.t = t
	return nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 (2026-12-01T10:00:00Z), a date (2026-12-01) or a duration ago (2h)")
}

// ts is a timestamp for tables ("-" when unset).
func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// short is a duration rounded for people.
func short(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}
