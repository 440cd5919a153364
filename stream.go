package llmhttp

import (
	"bytes"
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
	return scanStreamFlag(body)
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
