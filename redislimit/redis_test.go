package redislimit_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redisServer is a redis-server the test started on a loopback port.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts a private redis-server on a free loopback port and
// stops it at cleanup. Without the binary it skips, unless CI=true.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	var lastErr error
	for range 3 { // a free port can be taken between finding and binding it
		s, err := launch(t, freePort(t))
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// startRedisAt starts a redis-server on addr's port again; nil if it fails.
func startRedisAt(t testing.TB, addr string) *redisServer {
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	s, err := launch(t, p)
	if err != nil {
		return nil
	}
	return s
}

func launch(t testing.TB, port int) (*redisServer, error) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found; install it: apt-get install -y redis-server")
		}
		t.Skip("redis-server not found; install it: apt-get install -y redis-server")
	}
	s := &redisServer{Addr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.waitReady(5 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	t.Cleanup(s.Stop)
	return s, nil
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *redisServer) waitReady(limit time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		select { // poll again shortly, or stop at once if the server died
		case <-s.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop kills the server and waits for it. It is safe to call twice.
func (s *redisServer) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// client returns a go-redis client for s, closed at cleanup. A stopped
// server refuses connections at once, so failures are fast without short
// timeouts; the timeouts are long enough for a loaded test machine.
func (s *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  s.Addr,
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           2 * time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
		Protocol:              2,
	})
	t.Cleanup(func() { c.Close() })
	return c
}
