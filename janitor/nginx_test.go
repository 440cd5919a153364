package janitor

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const nginxConf = `daemon off;
%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	keepalive_timeout %[3]dms %[6]s;
	keepalive_requests 1000000;
	upstream backend {
		server %[4]s;
		keepalive 16;
	}
	server {
		listen %[5]s;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
		}
	}
}
`

// startNginx starts nginx on a loopback port, proxying to upstream with
// upstream keep-alive, and closing client connections idle keepalive; with
// hint > 0 it announces "Keep-Alive: timeout=hint" (whole seconds). It
// returns the base URL; nginx is stopped at cleanup.
func startNginx(t *testing.T, upstream string, keepalive time.Duration, hint int) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			bin = "/usr/sbin/nginx"
		}
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("nginx is missing: apt-get install -y nginx")
		}
		t.Skip("nginx is missing: apt-get install -y nginx")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the temp directory
	}
	conf := filepath.Join(dir, "nginx.conf")
	header := ""
	if hint > 0 {
		header = fmt.Sprintf("%ds", hint)
	}
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, nginxConf, user, dir, keepalive.Milliseconds(), upstream, addr, header), 0o600))
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s", err, log)
		default:
		}
		require.True(t, time.Now().Before(deadline), "nginx did not listen on %s", addr)
		poll := time.NewTimer(10 * time.Millisecond)
		<-poll.C // polling with a deadline for a port to open
	}
	return "http://" + addr
}
