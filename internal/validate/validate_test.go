package validate_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/hindsight-dev/hindsight/internal/validate"
	routingv1 "github.com/hindsight-dev/hindsight/proto/hindsight/routing/v1"
)

func TestDeclaredConstraints(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  *routingv1.CreateDatasetRequest
		want string // "field: description" of the one violation, "" for none
	}{
		{"valid", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "nginx.access"}}, ""},
		{"required", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{}}, "dataset.name: required"},
		{"pattern", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "Nginx"}}, "dataset.name: must match"},
		{"required message", &routingv1.CreateDatasetRequest{}, "dataset: required"},
		{"unset message is not checked", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "a", Topic: nil}}, ""},
		{"minimum", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "a", Topic: &routingv1.TopicSettings{Partitions: -1}}}, "dataset.topic.partitions: must be greater than -1"},
		{"64-bit integer pattern", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "a", Topic: &routingv1.TopicSettings{RetentionBytes: -5}}}, "dataset.topic.retentionBytes: must match"},
		{"duration pattern", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "a", Topic: &routingv1.TopicSettings{Retention: durationpb.New(-time.Second)}}}, "dataset.topic.retention: must match"},
		{"enum of strings", &routingv1.CreateDatasetRequest{Dataset: &routingv1.Dataset{Name: "a", Topic: &routingv1.TopicSettings{Compression: "brotli"}}}, "dataset.topic.compression: must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := validate.Violations(tc.msg, "")
			if tc.want == "" {
				if len(v) != 0 {
					t.Fatalf("violations %v, want none", v)
				}
				return
			}
			if len(v) != 1 || !strings.HasPrefix(v[0].Field+": "+v[0].Description, tc.want) {
				t.Fatalf("violations %v, want one starting %q", v, tc.want)
			}
		})
	}
	if validate.Check(&routingv1.Dataset{Name: "ok"}) != nil {
		t.Error("Check of a valid message must be nil")
	}
}
