package ws_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/ws"
)

// BenchmarkRoundTrip measures one event written and its answer read
// (session.update → session.updated) against the test server on loopback,
// with heartbeat and watchdog on.
func BenchmarkRoundTrip(b *testing.B) {
	srv := testserver.New(b, testserver.Config{})
	c, err := ws.Dial(b.Context(), "ws://"+srv.Addr()+testserver.RealtimePath, ws.Config{HTTPClient: srv.Client()})
	require.NoError(b, err)
	defer c.Close()
	ctx := b.Context()
	_, _, err = c.ReadEvent(ctx)
	require.NoError(b, err)
	msg := []byte(`{"type":"session.update","session":{"instructions":"hi"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, ws.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
