package llmhttp

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// maxStreamScan bounds how much of a request body isStreaming reads to find
// "stream": true. Chat requests put the flag after the messages in most SDKs'
// field order, so the scan must be able to pass a long prompt; past this it
// gives up and the call is treated as a short one.
const maxStreamScan = 4 << 20

var scanBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// isStreaming reports whether req asks for a streamed answer: it accepts
// text/event-stream, or its JSON body has "stream": true at any depth that
// looks like a key. The body is read through GetBody, never consumed; a
// request without GetBody is judged by its headers alone.
func isStreaming(req *http.Request) bool {
	if strings.Contains(req.Header.Get("Accept"), "text/event-stream") {
		return true
	}
	if req.Body == nil || req.Body == http.NoBody || req.GetBody == nil {
		return false
	}
	body, err := req.GetBody()
	if err != nil {
		return false
	}
	defer body.Close()
	if wt, ok := body.(io.WriterTo); ok {
		// An in-memory body (bytes.Reader, strings.Reader: what SDKs and
		// http.NewRequest give) hands its bytes over in place: scanned
		// where they lie, not copied into a buffer first.
		w := writers.Get().(*streamWriter)
		*w = streamWriter{}
		_, _ = wt.WriteTo(w)
		found := w.found
		writers.Put(w)
		return found
	}
	return scanStreamFlag(body)
}

var writers = sync.Pool{New: func() any { return new(streamWriter) }}

// errScanDone stops a WriteTo once the answer is known.
var errScanDone = errors.New("llmhttp: stream flag scan done")

// streamWriter finds "stream": true in what is written to it, in pieces of
// any size, keeping the tail of each piece so that a match split across
// two is still found; like scanStreamFlag, it gives up after maxStreamScan
// bytes.
type streamWriter struct {
	found bool
	total int
	n     int // bytes in tail
	tail  [streamKeep]byte
	joint [2 * streamKeep]byte
}

// streamKeep is how much of one piece is kept to find a match that goes on
// in the next: longer than the key plus any sane white space.
const streamKeep = 64

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.found || w.total >= maxStreamScan {
		return 0, errScanDone
	}
	w.total += len(p)
	// A match that starts in the previous piece's tail.
	j := append(w.joint[:0], w.tail[:w.n]...)
	j = append(j, p[:min(len(p), streamKeep)]...)
	if w.n > 0 && hasStreamTrue(j, false) || hasStreamTrue(p, false) {
		w.found = true
		return 0, errScanDone
	}
	if len(p) >= streamKeep {
		w.n = copy(w.tail[:], p[len(p)-streamKeep:])
	} else {
		w.n = copy(w.tail[:], j[max(0, len(j)-streamKeep):])
	}
	return len(p), nil
}

var streamKey = []byte(`"stream"`)

// scanStreamFlag looks for the key "stream" followed by optional white
// space, a colon, optional white space and true. It reads in chunks, keeping
// a tail so a match split across two reads is still found.
func scanStreamFlag(r io.Reader) bool {
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	buf := *bp
	const keep = 64 // longer than the key plus any sane white space
	n, total := 0, 0
	for total < maxStreamScan {
		m, err := r.Read(buf[n:])
		n += m
		total += m
		if hasStreamTrue(buf[:n], err != nil) {
			return true
		}
		if err != nil {
			return false
		}
		if n > keep && n == len(buf) {
			copy(buf, buf[n-keep:n])
			n = keep
		}
	}
	return false
}

// hasStreamTrue reports whether b holds "stream" : true. When final is false,
// a match cut off at the end of b is not decided here but by the next read.
func hasStreamTrue(b []byte, final bool) bool {
	for {
		i := bytes.Index(b, streamKey)
		if i < 0 {
			return false
		}
		b = b[i+len(streamKey):]
		rest := skipSpace(b)
		if len(rest) == 0 {
			return false // the value comes in the next read, if at all
		}
		if rest[0] != ':' {
			continue
		}
		rest = skipSpace(rest[1:])
		if len(rest) < 4 {
			if !final {
				return false
			}
			continue
		}
		if string(rest[:4]) == "true" {
			return true
		}
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
