package observe

import (
	"bytes"
	"io"
	"sync"
)

// body wraps a response body to count what the caller reads and to end the
// call's report at EOF, on a read error or on Close. Its own mutex guards c,
// which it drops when the call ends: the caller may go on reading or close
// twice after the call state was recycled for another call. It also guards
// the fields of c only the body touches (see read), so that a read that
// does not end the call costs one lock. The mutex is not held during the
// inner Read, so a Close from another goroutine can still interrupt a
// blocked Read.
type body struct {
	rc io.ReadCloser
	mu sync.Mutex
	c  *call
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	c := b.c
	if c == nil {
		b.mu.Unlock()
		return n, err
	}
	if n > 0 {
		c.read(p[:n])
	}
	if err == nil {
		b.mu.Unlock()
		return n, nil
	}
	b.c = nil
	c.mu.Lock()
	if err == io.EOF {
		c.finish(endEOF)
	} else {
		c.r.Err = err
		c.finish(endRead)
	}
	c.mu.Unlock()
	b.mu.Unlock()
	c.deliver()
	return n, err
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.mu.Lock()
	c := b.c
	b.c = nil
	b.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		c.finish(endClose)
		c.mu.Unlock()
		c.deliver()
	}
	return err
}

// read accounts for p, just read by the caller. It runs under the body's
// mutex, not c.mu: the fields it touches (BytesRead, FirstByte, the scan
// state) are the body's alone until the call ends, and Stream is set before
// the body exists.
func (c *call) read(p []byte) {
	c.r.BytesRead += int64(len(p))
	if c.r.Stream {
		c.lastRead = c.off()
		if c.r.FirstByte == 0 {
			c.r.FirstByte = c.lastRead
		}
		c.scan(p)
	}
}

// scan looks at the start of each line of an event stream for the events
// that end a stream in the dialects observe knows, so that a stream no layer
// reported on can still be told completed, and counts the events. It copies at most len(c.head)
// bytes of a line, across reads, and allocates nothing. A newline inside a
// JSON string is escaped, so a line that starts "data: [DONE]" is the real
// one, not a model quoting it.
func (c *call) scan(p []byte) {
	for len(p) > 0 {
		if c.headOn {
			i := bytes.IndexByte(p, '\n')
			end := len(p)
			if i >= 0 {
				end = i
			}
			c.headN += copy(c.head[c.headN:], p[:end])
			if i < 0 && c.headN < len(c.head) {
				return
			}
			c.checkHead()
			c.headOn = false
			if i < 0 {
				return
			}
			p = p[i:]
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			return
		}
		p = p[i+1:]
		c.headOn, c.headN = true, 0
	}
}

// checkHead classifies the start of a line; c.mu is held. A blank line
// ends an event.
func (c *call) checkHead() {
	h := c.head[:c.headN]
	if len(h) == 0 || len(h) == 1 && h[0] == '\r' {
		if c.inEvent {
			c.bodyEvents++
			c.inEvent = false
		}
		return
	}
	c.inEvent = true
	if v, ok := field(h, "data:"); ok {
		switch {
		case bytes.HasPrefix(v, []byte("[DONE]")):
			c.terminal = true
		case bytes.HasPrefix(v, []byte(`{"error"`)), bytes.HasPrefix(v, []byte(`{"type":"error"`)):
			c.errEvent = true
		}
		return
	}
	if v, ok := field(h, "event:"); ok {
		switch {
		case bytes.HasPrefix(v, []byte("message_stop")), bytes.HasPrefix(v, []byte("response.completed")):
			c.terminal = true
		case bytes.HasPrefix(v, []byte("error")), bytes.HasPrefix(v, []byte("response.failed")):
			c.errEvent = true
		}
	}
}

// field returns the value of line if it is the named field, without the
// single optional space after the colon (WHATWG).
func field(line []byte, name string) ([]byte, bool) {
	if !bytes.HasPrefix(line, []byte(name)) {
		return nil, false
	}
	v := line[len(name):]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return v, true
}

var _ io.ReadCloser = (*body)(nil)
