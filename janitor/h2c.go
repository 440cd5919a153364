package janitor

import (
	"errors"
	"os"
	"time"
)

// Retiring an HTTP/2 connection. One connection carries many streams, and
// net/http's pool hands it to new requests for as long as it is open:
// closing it under them fails the requests whose streams are being started
// (net/http re-sends an HTTP/2 request only when the connection refused it
// cleanly), and a busy connection may never be idle. So the janitor does
// not close a plaintext HTTP/2 (h2c) connection; it makes the client
// believe the server sent GOAWAY with the highest stream ID and no error:
// net/http's HTTP/2 client then takes it out of the pool, lets every
// stream already started run to its end, sends new requests on a new
// connection (re-sending, on a new connection, one that picked this one
// but had not started its stream), and closes the connection itself when
// its last stream ends. The GOAWAY is added to the bytes read from the
// connection between two frames, which the janitor follows from the
// server's first bytes. Over TLS the janitor sees only ciphertext: a due
// HTTP/2 connection over TLS is closed when it is next idle.

// goawayFrame is GOAWAY (type 7) on stream 0, last stream ID 2^31-1, error
// NO_ERROR: every stream the client opened may finish.
var goawayFrame = [...]byte{0, 0, 8, 7, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}

// GOAWAY states of a conn.
const (
	goawayNone    int32 = iota
	goawayPending       // to be handed to the reader at the next frame boundary
	goawaySent          // handed to the reader
	goawaySeen          // the reader came back for more: the client has processed it
)

// frames follows HTTP/2 frame boundaries in the bytes a server sends.
type frames struct {
	hdr    [9]byte
	hdrN   int // header bytes seen of the current frame
	rest   int // payload bytes still to come of the current frame
	seen   int // headers completed
	notH2  bool
	isH2   bool
	sniffN int
}

// advance follows b, the next bytes from the server. The first frame of an
// HTTP/2 server is SETTINGS on stream 0, not an ACK; anything else (an
// HTTP/1 status line, a TLS record) stops the following for good.
func (f *frames) advance(b []byte) {
	for len(b) > 0 && !f.notH2 {
		if f.rest > 0 {
			n := min(len(b), f.rest)
			f.rest -= n
			b = b[n:]
			continue
		}
		n := copy(f.hdr[f.hdrN:], b)
		if f.seen == 0 && f.hdr[0] != 0 {
			f.notH2 = true // a SETTINGS payload is well under 64KB
			return
		}
		f.hdrN += n
		b = b[n:]
		if f.hdrN < len(f.hdr) {
			continue
		}
		if f.seen == 0 {
			if f.hdr[3] != 4 || f.hdr[4] != 0 || f.hdr[5]|f.hdr[6]|f.hdr[7]|f.hdr[8] != 0 {
				f.notH2 = true
				return
			}
			f.isH2 = true
		}
		f.seen++
		f.rest = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		f.hdrN = 0
	}
}

// boundary reports whether the bytes so far end a frame.
func (f *frames) boundary() bool { return f.hdrN == 0 && f.rest == 0 }

// room is how many of n bytes can be read without passing the end of the
// current frame (or of its header).
func (f *frames) room(n int) int {
	if f.notH2 {
		return n
	}
	if f.hdrN > 0 {
		return min(n, len(f.hdr)-f.hdrN)
	}
	if f.rest > 0 {
		return min(n, f.rest)
	}
	return n
}

// readFramed is Read for a connection that may be h2c: it follows the
// frames and, once a GOAWAY is pending, stops each read at a frame's end
// and then hands the reader the GOAWAY frame.
func (c *conn) readFramed(p []byte) (int, error) {
	if len(c.inj) == 0 && c.goaway.Load() == goawaySent {
		// The reader handed the GOAWAY to the client's frame reader
		// alone, and comes back for more only once the client has
		// processed it: from now on the client starts no stream on this
		// connection, so the janitor may close it as soon as no request
		// holds it. (The client closes it itself when its last stream
		// ends, but not when it had none left.)
		c.goaway.Store(goawaySeen)
		c.j.goawaySeen(c)
	}
	for {
		if len(c.inj) == 0 && c.goaway.Load() == goawayPending && c.fr.boundary() {
			c.inj = goawayFrame[:]
			c.goaway.Store(goawaySent)
		}
		if len(c.inj) > 0 {
			n := copy(p, c.inj)
			c.inj = c.inj[n:]
			return n, nil
		}
		q := p
		if c.goaway.Load() == goawayPending {
			q = q[:c.fr.room(len(q))]
		}
		n, err := c.Conn.Read(q)
		c.fr.advance(q[:n])
		if c.fr.isH2 && !c.h2c.Load() {
			c.h2c.Store(true)
		}
		if n == 0 && err != nil && c.interrupted.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			// The janitor's own wake-up of a reader blocked between
			// frames: the GOAWAY goes out now, or at the end of the
			// frame being read.
			c.interrupted.Store(false)
			_ = c.Conn.SetReadDeadline(time.Time{})
			continue
		}
		c.noteRead(n, err)
		return n, err
	}
}

// sendGoaway has the reader hand the client a GOAWAY at the next frame
// boundary, waking it if it is blocked in a read. Call it without j.mu.
func (c *conn) sendGoaway() {
	if !c.goaway.CompareAndSwap(goawayNone, goawayPending) {
		return
	}
	c.interrupted.Store(true)
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// goawaySeen closes draining h2c connection c if no request holds it.
func (j *Janitor) goawaySeen(c *conn) {
	j.mu.Lock()
	idle := c.active == 0 && !c.gone
	if idle {
		c.gone = true
	}
	j.mu.Unlock()
	if idle {
		_ = c.Close()
	}
}
