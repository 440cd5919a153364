// Package ws compares message round trips through llmhttp's ws.Conn with
// the same round trips over a bare github.com/coder/websocket connection,
// both against the test server's /v1/realtime endpoint on loopback.
//
//	cd bench && go test -run XXX -bench . -benchtime 3000x ./ws/
package ws

import (
	"context"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/llmhttp/llmhttp/internal/testserver"
	"github.com/llmhttp/llmhttp/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var msg = []byte(`{"type":"session.update","session":{"instructions":"Answer briefly."}}`)

// BenchmarkRoundTrip writes session.update and reads session.updated.
func BenchmarkRoundTrip(b *testing.B) {
	srv := testserver.New(b, testserver.Config{})
	url := "ws://" + srv.Addr() + testserver.RealtimePath

	b.Run("llmhttp", func(b *testing.B) {
		ctx := b.Context()
		c, err := ws.Dial(ctx, url, ws.Config{HTTPClient: srv.Client()})
		require.NoError(b, err)
		defer c.Close()
		_, _, err = c.Read(ctx) // session.created
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Write(ctx, ws.MessageText, msg); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("coder-bare", func(b *testing.B) {
		ctx := b.Context()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: srv.Client()})
		require.NoError(b, err)
		defer c.CloseNow()
		c.SetReadLimit(10 << 20)
		_, _, err = c.Read(ctx)
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
}

// TestRoundTrip keeps the benchmark's code path tested.
func TestRoundTrip(t *testing.T) {
	srv := testserver.New(t, testserver.Config{})
	c, err := ws.Dial(context.Background(), "ws://"+srv.Addr()+testserver.RealtimePath, ws.Config{HTTPClient: srv.Client()})
	require.NoError(t, err)
	defer c.Close()
	_, _, err = c.Read(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Write(t.Context(), ws.MessageText, msg))
	typ, _, err := c.ReadEvent(t.Context())
	require.NoError(t, err)
	require.Equal(t, "session.updated", typ)
}
