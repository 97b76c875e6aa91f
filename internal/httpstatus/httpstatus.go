// Package httpstatus maps an HTTP status code to the topology's status
// class, the same way for flows seen on the wire (the agent's capture) and
// flows read from access logs (the topology service).
package httpstatus

import topologyv1 "github.com/hindsight-dev/hindsight/proto/hindsight/topology/v1"

// Class is the status class of an HTTP response code: 5xx a server error,
// 4xx a client error, anything else OK.
func Class(code int) topologyv1.StatusClass {
	switch {
	case code >= 500:
		return topologyv1.StatusClass_STATUS_CLASS_SERVER_ERROR
	case code >= 400:
		return topologyv1.StatusClass_STATUS_CLASS_CLIENT_ERROR
	}
	return topologyv1.StatusClass_STATUS_CLASS_OK
}
