package validate_test

import (
	"strings"
	"testing"

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
		{"unset message is not checked", &routingv1.CreateDatasetRequest{}, ""},
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
