package ws_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/ws"
)

// wsGoroutines counts live goroutines running code of package ws.
func wsGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "llmhttp/ws.(*") {
			n++
		}
	}
	return n
}

func TestNoGoroutineOutlivesALostConnection(t *testing.T) {
	e := newEnv(t, testserver.HTTP1, testserver.Config{})
	e.srv.SetRealtimeScript(testserver.RealtimeFault{Fault: testserver.Fault{Close: testserver.CloseAfterHeaders, Reset: true}})
	c := e.dial(t, ws.Config{PingInterval: time.Hour})
	err, _ := readErr(t, c)
	require.ErrorIs(t, err, ws.ErrConnectionLost)
	// The connection's goroutines (reader, heartbeat, watchdog) end by
	// themselves, without Close.
	require.Eventually(t, func() bool { return wsGoroutines() == 0 }, 5*time.Second, 10*time.Millisecond)
}
