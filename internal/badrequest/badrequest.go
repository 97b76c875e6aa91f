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
		msgs[i] = f.Description
		if f.Field != "" {
			msgs[i] = f.Field + ": " + f.Description
		}
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

// Within says where in a larger request an InvalidArgument error happened
// (e.g. "message 3 of the stream"): every field violation's description and
// the message are prefixed with where. Other errors are returned unchanged.
func Within(err error, where string) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	var v Violations
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, f := range br.GetFieldViolations() {
				v.Add(f.GetField(), "%s: %s", where, f.GetDescription())
			}
		}
	}
	if len(v) == 0 {
		return status.Errorf(codes.InvalidArgument, "%s: %s", where, st.Message())
	}
	return v.Err()
}
