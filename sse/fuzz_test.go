package sse_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/llmhttp/llmhttp/sse"
)

// reference is a deliberately plain transcription of the WHATWG event stream
// interpretation, against which the fuzz target checks the fast Reader.
func reference(in []byte, maxSize int) (events []ev, retry time.Duration, tooLarge bool) {
	s := string(bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF")))
	var (
		lines     []string
		data, typ strings.Builder
		hasData   bool
		id        string
		lineStart int
	)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			lines = append(lines, s[lineStart:i])
			lineStart = i + 1
		case '\r':
			lines = append(lines, s[lineStart:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			lineStart = i + 1
		}
	}
	for _, l := range lines {
		if len(l) > maxSize {
			return events, retry, true
		}
		if l == "" {
			if hasData {
				t := typ.String()
				if t == "" {
					t = "message"
				}
				events = append(events, ev{id, t, data.String()})
			}
			data.Reset()
			typ.Reset()
			hasData = false
			continue
		}
		if l[0] == ':' {
			continue
		}
		name, value, found := strings.Cut(l, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
			if data.Len() > maxSize {
				return events, retry, true
			}
		case "event":
			typ.Reset()
			typ.WriteString(value)
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		case "retry":
			ok := value != ""
			var n int64
			for _, c := range []byte(value) {
				if c < '0' || c > '9' || n > (1<<62)/10 {
					ok = false
					break
				}
				n = n*10 + int64(c-'0')
			}
			if ok && n <= int64(1<<63-1)/int64(time.Millisecond) {
				retry = time.Duration(n) * time.Millisecond
			}
		}
	}
	// An unterminated last line is discarded at EOF, but one longer than the
	// limit may already have overflowed the Reader's buffer.
	return events, retry, len(s)-lineStart > maxSize
}

// chunkReader returns its input in reads whose sizes cycle through sizes.
type chunkReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.i%len(c.sizes)])
		c.i++
	}
	n = max(min(n, len(p), len(c.data)), 1) // a zero-length read is legal but 100 in a row is ErrNoProgress
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func FuzzReader(f *testing.F) {
	for _, tt := range conformance {
		f.Add([]byte(tt.in), []byte{1, 7, 3})
	}
	f.Add([]byte(openAIStream(3)), []byte{0, 200, 5})
	f.Add([]byte(openAIStream(24)), []byte{255, 251}) // past the first read buffer, so that it grows
	f.Add([]byte(anthropicStream(3)), []byte{64})
	f.Add([]byte("data: "+strings.Repeat("z", 70)+"\n\n"), []byte{2})
	const maxSize = 64
	f.Fuzz(func(t *testing.T, in, sizes []byte) {
		decode := func(src io.Reader) ([]ev, time.Duration, error) {
			r := sse.NewReaderConfig(src, sse.ReaderConfig{MaxEventSize: maxSize})
			var got []ev
			for {
				e, err := r.Next()
				if err != nil {
					d, _ := r.Retry()
					return got, d, err
				}
				if len(e.Data) > maxSize {
					t.Fatalf("event of %d bytes passed a limit of %d", len(e.Data), maxSize)
				}
				got = append(got, ev{e.ID, e.Type, string(e.Data)})
			}
		}
		whole, wholeRetry, wholeErr := decode(bytes.NewReader(in))
		chunked, chunkedRetry, chunkedErr := decode(&chunkReader{data: in, sizes: sizes})
		require.Equal(t, whole, chunked)
		require.Equal(t, wholeRetry, chunkedRetry)
		require.Equal(t, wholeErr, chunkedErr)

		// With the default limit the buffer starts small and grows as
		// reads fill it: the events are the reference's all the same.
		if wantD, wantDRetry, tooLargeD := reference(in, sse.DefaultMaxEventSize); !tooLargeD {
			r := sse.NewReader(&chunkReader{data: in, sizes: sizes})
			var got []ev
			for {
				e, err := r.Next()
				if err != nil {
					require.ErrorIs(t, err, io.EOF)
					break
				}
				got = append(got, ev{e.ID, e.Type, string(e.Data)})
			}
			require.Equal(t, wantD, got)
			d, _ := r.Retry()
			require.Equal(t, wantDRetry, d)
		}

		want, wantRetry, tooLarge := reference(in, maxSize)
		if tooLarge {
			// The Reader may stop at a slightly different point (its line
			// limit counts the terminator's lookahead), but never later than
			// the reference and never with a wrong event.
			require.True(t, errors.Is(wholeErr, sse.ErrEventTooLarge) || wholeErr == io.EOF)
			require.LessOrEqual(t, len(whole), len(want))
			require.Equal(t, want[:len(whole)], whole)
			return
		}
		require.ErrorIs(t, wholeErr, io.EOF)
		require.Equal(t, want, whole)
		require.Equal(t, wantRetry, wholeRetry)
	})
}

func openAIStream(n int) string {
	var b strings.Builder
	b.WriteString(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	for i := range n {
		b.WriteString(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_fc9f1d7035","choices":[{"index":0,"delta":{"content":" token`)
		b.WriteByte(byte('a' + i%26))
		b.WriteString(`"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func anthropicStream(n int) string {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	for i := range n {
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token")
		b.WriteByte(byte('a' + i%26))
		b.WriteString("\"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return b.String()
}
