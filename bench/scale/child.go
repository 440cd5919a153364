package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llmhttp/llmhttp/internal/testserver"
)

// childEnv, when set in the environment, makes ServeChild serve: its value
// is the JSON-encoded testserver.Config.
const childEnv = "LLMHTTP_SCALE_SERVER"

// ErrNoChild matches the error of RunScale or RunBurst when the server
// process did not start serving: most often because the program does not
// call ServeChild at the start of main (or TestMain).
var ErrNoChild = errors.New("scale: server process did not start")

// ServeChild serves as the fake API server and exits the process, when the
// process was started by RunScale or RunBurst as their server; otherwise it
// returns at once. Call it first thing in main, or in TestMain.
//
// The server prints "addr HOST:PORT" on its standard output, answers each
// line "stats" on its standard input with one line of JSON (childStats), and
// exits when its standard input closes.
func ServeChild() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Exit(serveChild(v, os.Stdin, os.Stdout))
}

// childStats is what the server process reports on "stats".
type childStats struct {
	testserver.Stats
	CPU time.Duration // the server process's user+sys CPU so far
}

func serveChild(cfgJSON string, in io.Reader, out io.Writer) int {
	var cfg testserver.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintf(out, "error %v\n", err)
		return 2
	}
	s, err := testserver.Start(cfg)
	if err != nil {
		fmt.Fprintf(out, "error %v\n", err)
		return 1
	}
	defer s.Close()
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "addr %s\n", s.Addr())
	_ = w.Flush()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "stats" {
			continue
		}
		b, _ := json.Marshal(childStats{Stats: s.Stats(), CPU: cpuTime()})
		_, _ = w.Write(append(b, '\n'))
		_ = w.Flush()
	}
	return 0
}

// child is a server process started by startChild.
type child struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
	mu   sync.Mutex
	once sync.Once
}

// childStartTimeout bounds the wait for the server process's address.
const childStartTimeout = 30 * time.Second

// startChild starts this binary again as a server with cfg. Its file limit
// is raised to the hard limit, as the parent's is.
func startChild(ctx context.Context, cfg testserver.Config) (*child, error) {
	if _, ok := os.LookupEnv(childEnv); ok {
		// This process is itself a server child that did not call
		// ServeChild; starting another would recurse.
		return nil, fmt.Errorf("%w: the program does not call scale.ServeChild", ErrNoChild)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoChild, err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = io.Discard
	killWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoChild, err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(outR)}
	line, err := c.readLine(ctx, childStartTimeout)
	if err != nil || !strings.HasPrefix(line, "addr ") {
		c.close()
		if err == nil {
			err = fmt.Errorf("unexpected %q", line)
		}
		return nil, fmt.Errorf("%w (does the program call scale.ServeChild?): %v", ErrNoChild, err)
	}
	c.addr = strings.TrimPrefix(line, "addr ")
	return c, nil
}

// readLine reads one line of the child's output, giving up after timeout or
// when ctx ends (the child is then killed, which ends the read).
func (c *child) readLine(ctx context.Context, timeout time.Duration) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- result{strings.TrimSpace(s), err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	_ = c.cmd.Process.Kill()
	<-ch
	return "", fmt.Errorf("no answer from the server process within %v", timeout)
}

// stats asks the server process for its counters.
func (c *child) stats(ctx context.Context) (childStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st childStats
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		return st, err
	}
	line, err := c.readLine(ctx, 10*time.Second)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal([]byte(line), &st)
}

// close stops the server process: it closes its input, so that it closes
// its server and exits, and kills it if it has not within 10s.
func (c *child) close() {
	c.once.Do(func() {
		_ = c.in.Close()
		done := make(chan struct{})
		go func() {
			_ = c.cmd.Wait()
			close(done)
		}()
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = c.cmd.Process.Kill()
			<-done
		}
	})
}

// cpuTime is the process's user+sys CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
