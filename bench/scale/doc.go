// Package scale measures llmhttp at load on loopback: thousands of
// concurrent streaming calls through llmhttp.NewClient (memory and
// goroutines per stream, CPU, and how late the stream watchdog catches
// stalls at that load), and a burst of streaming calls through each
// transport preset next to a clone of http.DefaultTransport (connections
// opened, time to first token).
//
// The fake server runs in a child process: the running binary started again
// with an environment variable that makes it serve. 10,000 client
// connections and 10,000 server connections do not fit under one process's
// file limit, and a separate process keeps the server out of the client's
// memory and CPU figures. So a program that calls RunScale or RunBurst must
// call ServeChild first thing in main (a test binary: in TestMain):
//
//	func main() {
//		scale.ServeChild() // serves and exits when started as the server
//		rep, err := scale.RunScale(ctx, scale.ScaleOptions{})
//		...
//	}
//
// Reproduce the figures (from the bench directory):
//
//	SCALE_FULL=1 go test -run 'TestScale|TestBurst' -v -timeout 10m ./scale/
//	SCALE_FULL=1 SCALE_PROFILE_DIR=/tmp/prof go test -run TestScale/http1 -v ./scale/
//	SCALE_FULL=1 go test -run TestIdleExpiry -v ./scale/  # the janitor's sweep
//	go test -race ./scale/                              # the reduced run CI makes
//
// Without SCALE_FULL the tests run 1,000 streams (300 under the race
// detector, which handles at most 8128 live goroutines) and bursts of 200.
package scale
