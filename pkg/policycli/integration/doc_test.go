// Package integration_test holds pkg/policycli to a real API server:
// explain and list on the bookstore example, the differential test of
// explain against the evaluator, findings and unreachable destinations. It
// lives apart from package policycli so that policycli's unit tests and
// fuzz target start no server.
package integration_test
