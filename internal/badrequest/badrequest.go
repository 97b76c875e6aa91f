// Package badrequest builds the InvalidArgument errors of Hindsight's APIs:
// one status whose message names every field at fault ("dataset.name: …;
// route.topic: …"), with a google.rpc.BadRequest detail listing them for
// clients that read details (the REST gateway renders them).
package badrequest

import (
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Violations collects field errors.
type Violations []*errdetails.BadRequest_FieldViolation

// Add records that field (a dotted request path such as "batch.dataset") is
// invalid, and why.
func (v *Violations) Add(field, format string, args ...any) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// Err is the InvalidArgument status naming every field, or nil when none.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	msgs := make([]string, len(v))
	for i, f := range v {
		msgs[i] = f.Field + ": " + f.Description
	}
	st := status.New(codes.InvalidArgument, strings.Join(msgs, "; "))
	if d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = d
	}
	return st.Err()
}

// Field is the InvalidArgument status for one field.
func Field(field, format string, args ...any) error {
	var v Violations
	v.Add(field, format, args...)
	return v.Err()
}
