package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/sse"
)

// ev is an Event with owned data, comparable in assertions.
type ev struct {
	ID, Type, Data string
}

// readAll decodes every event r yields until an error, copying each.
func readAll(r *sse.Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.ID, e.Type, string(e.Data)})
	}
}

// splitReader returns its input in pieces cut at the given offsets.
type splitReader struct {
	data []byte
	cuts []int
	off  int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if s.off == len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	for _, c := range s.cuts {
		if c > s.off {
			end = min(end, c)
			break
		}
	}
	n := copy(p, s.data[s.off:end])
	s.off += n
	return n, nil
}

var conformance = []struct {
	name  string
	in    string
	want  []ev
	retry time.Duration // zero: no retry field took effect
}{
	{"lf", "data: a\n\n", []ev{{"", "message", "a"}}, 0},
	{"crlf", "data: a\r\n\r\n", []ev{{"", "message", "a"}}, 0},
	{"lone cr", "data: a\r\rdata: b\r\r", []ev{{"", "message", "a"}, {"", "message", "b"}}, 0},
	{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", []ev{{"", "message", "a\nb\nc"}}, 0},
	{"cr then lf is one ending", "data: a\r\n\ndata: b\r\n\r\n", []ev{{"", "message", "a"}, {"", "message", "b"}}, 0},
	{"bom skipped", "\xEF\xBB\xBFdata: a\n\n", []ev{{"", "message", "a"}}, 0},
	{"only one bom", "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n", []ev{{"", "message", "c"}}, 0},
	{"partial bom is a field", "\xEF\xBBdata: a\n\ndata: b\n\n", []ev{{"", "message", "b"}}, 0},
	{"comment", ": hello\ndata: a\n: mid\n\n", []ev{{"", "message", "a"}}, 0},
	{"comment only", ": keep-alive\n\n: x\n\n", nil, 0},
	{"no space", "data:a\n\n", []ev{{"", "message", "a"}}, 0},
	{"one space stripped", "data:  a \n\n", []ev{{"", "message", " a "}}, 0},
	{"tab kept", "data:\ta\n\n", []ev{{"", "message", "\ta"}}, 0},
	{"field without colon", "data\n\n", []ev{{"", "message", ""}}, 0},
	{"lone data colon", "data:\n\n", []ev{{"", "message", ""}}, 0},
	{"empty data lines", "data\ndata\n\n", []ev{{"", "message", "\n"}}, 0},
	{"multi line data", "data: a\ndata: b\ndata: c\n\n", []ev{{"", "message", "a\nb\nc"}}, 0},
	{"trailing empty data", "data: a\ndata:\n\n", []ev{{"", "message", "a\n"}}, 0},
	{"event type", "event: add\ndata: 1\n\ndata: 2\n\n", []ev{{"", "add", "1"}, {"", "message", "2"}}, 0},
	{"empty event type", "event:\ndata: 1\n\n", []ev{{"", "message", "1"}}, 0},
	{"last event wins", "event: a\nevent: b\ndata: 1\n\n", []ev{{"", "b", "1"}}, 0},
	{"type reset without data", "event: x\n\ndata: 1\n\n", []ev{{"", "message", "1"}}, 0},
	{"id persists", "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", []ev{{"1", "message", "a"}, {"1", "message", "b"}, {"", "message", "c"}}, 0},
	{"id without data persists", "id: 7\n\ndata: a\n\n", []ev{{"7", "message", "a"}}, 0},
	{"id with nul ignored", "id: 1\n\nid: 2\x003\ndata: a\n\n", []ev{{"1", "message", "a"}}, 0},
	{"id after data", "data: a\nid: 9\n\n", []ev{{"9", "message", "a"}}, 0},
	{"retry", "retry: 1500\ndata: a\n\n", []ev{{"", "message", "a"}}, 1500 * time.Millisecond},
	{"retry not digits", "retry: 15x\ndata: a\n\n", []ev{{"", "message", "a"}}, 0},
	{"retry negative", "retry: -1\ndata: a\n\n", []ev{{"", "message", "a"}}, 0},
	{"retry empty", "retry:\ndata: a\n\n", []ev{{"", "message", "a"}}, 0},
	{"retry space", "retry:  5\n\n", nil, 0},
	{"retry last valid", "retry: 10\nretry: x\n\n", nil, 10 * time.Millisecond},
	{"unknown field", "foo: bar\ndata: a\nData: b\n\n", []ev{{"", "message", "a"}}, 0},
	{"no data not dispatched", "event: x\nid: 3\n\n", nil, 0},
	{"unterminated at eof", "data: a\n\ndata: b\n", []ev{{"", "message", "a"}}, 0},
	{"unterminated line at eof", "data: a\n\ndata: b", []ev{{"", "message", "a"}}, 0},
	{"eof after cr", "data: a\r\r", []ev{{"", "message", "a"}}, 0},
	{"colon in value", "data: a:b: c\n\n", []ev{{"", "message", "a:b: c"}}, 0},
	{"field name with space", "data : a\n\n", nil, 0},
	{"blank lines", "\n\n\r\n\rdata: a\n\n\n", []ev{{"", "message", "a"}}, 0},
	{"done", "data: {\"x\":1}\n\ndata: [DONE]\n\n", []ev{{"", "message", `{"x":1}`}, {"", "message", "[DONE]"}}, 0},
	{"anthropic", "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n",
		[]ev{{"", "message_start", `{"type":"message_start"}`}, {"", "ping", `{"type": "ping"}`}}, 0},
	{"utf8 passed through", "data: héllo ✓\n\n", []ev{{"", "message", "héllo ✓"}}, 0},
}

func TestReaderConformance(t *testing.T) {
	for _, tt := range conformance {
		t.Run(tt.name, func(t *testing.T) {
			check := func(t *testing.T, src io.Reader) {
				t.Helper()
				r := sse.NewReader(src)
				got, err := readAll(r)
				require.ErrorIs(t, err, io.EOF)
				assert.Equal(t, tt.want, got)
				d, ok := r.Retry()
				assert.Equal(t, tt.retry != 0, ok)
				assert.Equal(t, tt.retry, d)
			}
			check(t, strings.NewReader(tt.in))
			check(t, iotest.OneByteReader(strings.NewReader(tt.in)))
			check(t, iotest.DataErrReader(strings.NewReader(tt.in)))
			for i := 0; i <= len(tt.in); i++ {
				check(t, &splitReader{data: []byte(tt.in), cuts: []int{i}})
			}
		})
	}
}

func TestReaderAllocationReuse(t *testing.T) {
	in := strings.Repeat("event: content_block_delta\nid: 1\ndata: {\"a\":1}\n\n", 3)
	r := sse.NewReader(strings.NewReader(in))
	a, err := r.Next()
	require.NoError(t, err)
	b, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "content_block_delta", b.Type)
	assert.Equal(t, unsafeData(a.Type), unsafeData(b.Type), "type string reused")
	assert.Equal(t, unsafeData(a.ID), unsafeData(b.ID), "id string reused")
}

func unsafeData(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

func TestReaderLastEventID(t *testing.T) {
	r := sse.NewReader(strings.NewReader("id: 42\ndata: a\n\nid: 43\n"))
	_, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "42", r.LastEventID())
}

func TestReaderMaxEventSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		ok   int // events decoded before the error
		err  error
	}{
		{"line at limit", "data: " + strings.Repeat("x", 10) + "\n\n", 16, 1, io.EOF},
		{"line too long", "data: " + strings.Repeat("x", 40) + "\n\n", 16, 0, sse.ErrEventTooLarge},
		{"comment too long", ":" + strings.Repeat("x", 100) + "\ndata: a\n\n", 16, 0, sse.ErrEventTooLarge},
		{"event too long", strings.Repeat("data: 0123456789\n", 3) + "\n", 16, 0, sse.ErrEventTooLarge},
		{"small events fine", strings.Repeat("data: 0123456789\n\n", 50), 16, 50, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, src := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				r := sse.NewReaderConfig(src, sse.ReaderConfig{MaxEventSize: tt.max})
				got, err := readAll(r)
				require.ErrorIs(t, err, tt.err)
				assert.Len(t, got, tt.ok)
				_, err2 := r.Next()
				assert.ErrorIs(t, err2, tt.err, "sticky")
			}
		})
	}
}

func TestReaderLongLineGrows(t *testing.T) {
	long := strings.Repeat("y", 100_000)
	r := sse.NewReader(strings.NewReader("data: " + long + "\ndata: z\n\ndata: " + long + "\n\n"))
	got, err := readAll(r)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 2)
	assert.Equal(t, long+"\nz", got[0].Data)
	assert.Equal(t, long, got[1].Data)
}

func TestReaderSourceError(t *testing.T) {
	boom := errors.New("boom")
	src := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	r := sse.NewReader(src)
	got, err := readAll(r)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []ev{{"", "message", "a"}}, got)
}

func TestReaderNoProgress(t *testing.T) {
	r := sse.NewReader(zeroReader{})
	_, err := r.Next()
	require.ErrorIs(t, err, io.ErrNoProgress)
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderDispatchesWithoutReadingAhead(t *testing.T) {
	// An event must come out as soon as its blank line is read, even when
	// the blank line ends in a CR whose LF has not arrived.
	for _, in := range []string{"data: a\n\n", "data: a\r\r", "data: a\r\n\r"} {
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write([]byte(in)) }()
		r := sse.NewReader(pr)
		e, err := r.Next()
		require.NoError(t, err)
		assert.Equal(t, "a", string(e.Data))
		require.NoError(t, pw.Close())
		_, err = r.Next()
		assert.ErrorIs(t, err, io.EOF)
	}
}

func TestReaderAll(t *testing.T) {
	r := sse.NewReader(strings.NewReader("data: a\n\ndata: [DONE]\n\ndata: c\n\n"))
	var got []string
	for e, err := range r.All() {
		require.NoError(t, err)
		if e.IsDone() {
			break
		}
		got = append(got, string(e.Data))
	}
	assert.Equal(t, []string{"a"}, got)

	boom := errors.New("boom")
	r = sse.NewReader(io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom)))
	var errs []error
	for _, err := range r.All() {
		errs = append(errs, err)
	}
	assert.Equal(t, []error{nil, boom}, errs)
}

func TestIsDone(t *testing.T) {
	assert.True(t, sse.Event{Data: []byte("[DONE]")}.IsDone())
	assert.False(t, sse.Event{Data: []byte("[DONE] ")}.IsDone())
	assert.False(t, sse.Event{}.IsDone())
	_ = bytes.MinRead
}

func TestReaderReset(t *testing.T) {
	r := sse.NewReader(strings.NewReader("id: 1\nretry: 5\nevent: x\ndata: a\n"))
	_, err := r.Next()
	require.ErrorIs(t, err, io.EOF)
	r.Reset(strings.NewReader("data: b\n\n"))
	e, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, ev{"", "message", "b"}, ev{e.ID, e.Type, string(e.Data)})
	_, ok := r.Retry()
	assert.False(t, ok)
}
