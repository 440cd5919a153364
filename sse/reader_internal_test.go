package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventPerRead yields one event per Read, as a paced stream does.
type eventPerRead struct{ events []string }

func (e *eventPerRead) Read(p []byte) (int, error) {
	if len(e.events) == 0 {
		return 0, io.EOF
	}
	n := copy(p, e.events[0])
	e.events[0] = e.events[0][n:]
	if e.events[0] == "" {
		e.events = e.events[1:]
	}
	return n, nil
}

// The read buffer stays small for a paced stream, grows to the read-ahead
// size (and no further) for a source with more ready than it takes, and
// grows past it only for a line that needs it.
func TestReaderBufferGrowth(t *testing.T) {
	event := "data: " + strings.Repeat("x", 300) + "\n\n"
	tests := []struct {
		name string
		src  io.Reader
		want int
	}{
		{"paced", &eventPerRead{events: slicesRepeat(event, 200)}, initialBufSize},
		{"bulk", strings.NewReader(strings.Repeat(event, 200)), readAheadSize},
		{"long line", strings.NewReader("data: " + strings.Repeat("y", 20<<10) + "\n\n"), 32 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.src)
			for {
				_, err := r.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, len(r.buf))
		})
	}
	t.Run("small max", func(t *testing.T) {
		r := NewReaderConfig(bytes.NewReader([]byte(strings.Repeat("data: a\n\n", 1000))), ReaderConfig{MaxEventSize: 100})
		for {
			if _, err := r.Next(); err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
		}
		assert.LessOrEqual(t, len(r.buf), 102)
	})
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
