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
// Reproduce the figures:
//
//	cd bench && SCALE_FULL=1 go test -run 'TestScale|TestBurst' -v -timeout 10m ./scale/
//	cd bench && go test -race ./scale/    # the reduced run CI makes
package scale
