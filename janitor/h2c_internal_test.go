package janitor

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frameHeader returns an HTTP/2 frame header.
func frameHeader(length int, typ byte, stream uint32) []byte {
	return []byte{byte(length >> 16), byte(length >> 8), byte(length), typ, 0,
		byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
}

// serverFrames is an h2c server's first bytes: SETTINGS, then a 10-byte
// DATA frame on stream 1.
func serverFrames() []byte {
	b := append(frameHeader(6, 4, 0), 0, 3, 0, 0, 0, 100)
	b = append(b, frameHeader(10, 0, 1)...)
	return append(b, bytes.Repeat([]byte{'x'}, 10)...)
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		isH2     bool
		notH2    bool
		boundary bool
	}{
		{"h2 server preface and a frame", serverFrames(), true, false, true},
		{"in the middle of a payload", serverFrames()[:20], true, false, false},
		{"in the middle of a header", serverFrames()[:19], true, false, false},
		{"HTTP/1", []byte("HTTP/1.1 200 OK\r\n"), false, true, false},
		{"TLS record", []byte{0x16, 3, 3, 0, 0x7a, 2, 0, 0, 0x76}, false, true, false},
		{"not SETTINGS first", frameHeader(4, 8, 0), false, true, false},
		{"SETTINGS on a stream", frameHeader(0, 4, 1), false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 7, len(tt.in)} { // fed in pieces
				var f frames
				for b := tt.in; len(b) > 0; {
					n := min(step, len(b))
					f.advance(b[:n])
					b = b[n:]
				}
				assert.Equal(t, tt.isH2, f.isH2, "step %d", step)
				assert.Equal(t, tt.notH2, f.notH2, "step %d", step)
				if !tt.notH2 {
					assert.Equal(t, tt.boundary, f.boundary(), "step %d", step)
				}
			}
		})
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(serverFrames(), uint8(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\n"), uint8(1))
	f.Add(append(serverFrames(), frameHeader(0, 7, 0)...), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		var whole, pieces frames
		whole.advance(in)
		s := max(int(step), 1)
		for b := in; len(b) > 0; {
			// room never lets a read pass the end of a frame
			n := pieces.room(min(s, len(b)))
			require.Positive(t, n)
			pieces.advance(b[:n])
			b = b[n:]
		}
		// The split does not matter.
		assert.Equal(t, whole.notH2, pieces.notH2)
		assert.Equal(t, whole.isH2, pieces.isH2)
		if !whole.notH2 {
			assert.Equal(t, [3]int{whole.hdrN, whole.rest, whole.seen}, [3]int{pieces.hdrN, pieces.rest, pieces.seen})
		}
	})
}

// TestGoawayBetweenFrames: a retired h2c connection's reader is handed a
// GOAWAY at the next frame boundary, at once when it is blocked between
// frames, and only after the frame it is in the middle of otherwise.
func TestGoawayBetweenFrames(t *testing.T) {
	f := newFixture(t, Config{MaxRequestsPerConn: 2})
	c, peer := f.dialConn()
	frames := serverFrames()
	go func() { _, _ = peer.Write(frames[:26]) }() // SETTINGS, and DATA's header and 2 bytes
	got := make([]byte, 26)
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, c.(*conn).h2c.Load(), "the server's SETTINGS says h2c")

	// The second request reaches the limit: GOAWAY, but the reader is in
	// the middle of the DATA frame.
	f.use(c, false)
	f.use(c, true)
	assert.Equal(t, 1, f.j.Stats().Draining)
	go func() { _, _ = peer.Write(frames[26:]) }()
	buf := make([]byte, 64)
	n, err := c.Read(buf) // woken by the janitor, then reads the rest of the frame
	require.NoError(t, err)
	assert.Equal(t, frames[26:], buf[:n], "the frame ends first")
	n, err = c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, goawayFrame[:], buf[:n])

	// Later frames pass through untouched.
	go func() { _, _ = peer.Write(frameHeader(0, 6, 0)) }()
	n, err = c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, frameHeader(0, 6, 0), buf[:n])
}

func TestGoawayWakesIdleReader(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: time.Minute})
	c, peer := f.dialConn()
	go func() { _, _ = peer.Write(serverFrames()) }()
	_, err := io.ReadFull(c, make([]byte, len(serverFrames())))
	require.NoError(t, err)
	f.use(c, false).done()
	f.waitArmed(1)

	read := make(chan []byte)
	go func() { // net/http's reader, blocked between frames
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		read <- buf[:n]
	}()
	f.clk.Advance(time.Minute) // idle: the sweeper retires it with a GOAWAY
	assert.Equal(t, goawayFrame[:], <-read)
	assert.Equal(t, Stats{Dialed: 1, Open: 1, Idle: 1, Draining: 1}, f.j.Stats())
	// The reader comes back once the client has processed the GOAWAY;
	// with no stream left, the client would not close the connection, so
	// the janitor does.
	_, err = c.Read(make([]byte, 64))
	require.ErrorIs(t, err, io.ErrClosedPipe) // net.Pipe's word for a closed conn
	assert.Equal(t, Stats{Dialed: 1, ClosedIdle: 1}, f.j.Stats())
}

// tcpPair dials a loopback TCP connection through j and returns both ends.
func tcpPair(t *testing.T, j *Janitor) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := j.WrapDial(nil)(t.Context(), "tcp", ln.Addr().String())
	require.NoError(t, err)
	peer, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(); _ = peer.Close() })
	if _, _, ok := c.(*conn).probe.state(); !ok {
		t.Skip("the kernel cannot be asked about TCP connections here")
	}
	return c, peer
}

func TestWriteGuardAsksTheKernel(t *testing.T) {
	t.Run("server closed", func(t *testing.T) {
		f := newFixture(t, Config{IdleTimeout: time.Hour})
		c, peer := tcpPair(t, f.j)
		f.use(c, false).done()
		require.NoError(t, peer.Close())
		require.Eventually(t, func() bool { open, _, _ := c.(*conn).probe.state(); return !open },
			10*time.Second, time.Millisecond, "the FIN arrives")
		// net/http's reader has not looked; the guard refuses the write.
		_, err := c.Write([]byte("POST"))
		require.ErrorIs(t, err, errExpired)
		st := f.j.Stats()
		assert.Equal(t, int64(1), st.Refused)
		assert.Equal(t, int64(1), st.ClosedServer)
	})
	t.Run("idle by the kernel's clock", func(t *testing.T) {
		// The janitor's clock stands still, as if the goroutine that read
		// the response had stalled: the kernel's count of the idle time
		// decides.
		f := newFixture(t, Config{IdleTimeout: 30 * time.Millisecond})
		f.j.stopSweep() // no sweeper
		c, peer := tcpPair(t, f.j)
		go func() { _, _ = peer.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")) }()
		_, err := io.ReadFull(c, make([]byte, 19))
		require.NoError(t, err)
		f.use(c, false).done()
		require.Eventually(t, func() bool { _, since, _ := c.(*conn).probe.state(); return since >= 30*time.Millisecond },
			10*time.Second, time.Millisecond)
		_, err = c.Write([]byte("POST"))
		require.ErrorIs(t, err, errExpired)
		assert.Equal(t, int64(1), f.j.Stats().ClosedIdle)
	})
	t.Run("fresh enough", func(t *testing.T) {
		f := newFixture(t, Config{IdleTimeout: time.Hour})
		c, _ := tcpPair(t, f.j)
		f.use(c, false).done()
		_, err := c.Write([]byte("POST"))
		require.NoError(t, err)
		assert.Zero(t, f.j.Stats().Refused)
	})
}
