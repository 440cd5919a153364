package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// DefaultMaxEventSize is the longest line or event data a Reader accepts when
// its ReaderConfig leaves MaxEventSize zero. It is generous on purpose: one
// tool call's arguments arrive in a single event with some servers.
const DefaultMaxEventSize = 8 << 20

// initialBufSize is the read buffer a Reader starts with. Typical LLM
// events are a few hundred bytes and a paced stream delivers one or two per
// Read, so a small buffer is all most streams ever need; with 10,000
// concurrent streams each KiB here is 10 MB. Lines longer than this grow the
// buffer (up to the maximum event size), and so do reads that keep filling
// it (see readAheadSize).
const initialBufSize = 2 << 10

// readAheadSize is what the buffer grows to, by doubling, when reads keep
// filling it: the source has more ready than the buffer takes (a replayed
// or unpaced stream, a fast local server), and larger reads amortise the
// cost of each Read through the layers of the response body.
const readAheadSize = 8 << 10

// maxEmptyReads is how many consecutive (0, nil) reads a Reader tolerates
// before it reports io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// typeCacheSize bounds the event type strings a Reader remembers, so that a
// stream alternating between a few types allocates none in the steady state.
const typeCacheSize = 16

// ErrEventTooLarge is returned by Reader.Next when a line or an event's data
// is longer than the Reader's maximum event size. The Reader is unusable
// after it.
var ErrEventTooLarge = errors.New("sse: event too large")

// ReaderConfig configures a Reader made by NewReaderConfig.
type ReaderConfig struct {
	// MaxEventSize bounds the length in bytes of one line and of one event's
	// data. A longer line or event makes Next return ErrEventTooLarge instead
	// of buffering without end. Zero means DefaultMaxEventSize (8 MiB).
	MaxEventSize int
}

func (c ReaderConfig) maxEventSize() int {
	if c.MaxEventSize <= 0 {
		return DefaultMaxEventSize
	}
	return c.MaxEventSize
}

// Reader decodes a text/event-stream as the WHATWG HTML standard's "event
// stream interpretation" says: one leading UTF-8 BOM is skipped; lines end in
// CRLF, LF or a lone CR, wherever the reads split them; lines starting with a
// colon are comments; a field without a colon has an empty value; one space
// after the colon is dropped; data lines are joined with LF; the last event ID
// persists across events and ignores values containing NUL; retry takes ASCII
// digits only; unknown fields are ignored; an event without a data field is
// not dispatched; and an unterminated event at the end of the stream is
// discarded. Bytes are passed through as they are: invalid UTF-8 is not
// replaced.
//
// A Reader allocates nothing per event in the steady state: Event.Data
// aliases an internal buffer and is valid until the next call to Next, and
// Event.Type and Event.ID reuse earlier strings when unchanged. Copy Data to
// keep it.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src io.Reader
	max int

	buf      []byte
	pos, end int   // unconsumed input is buf[pos:end]
	err      error // error from src, reported once buf holds no complete line
	fatal    error // sticky error returned by every later Next
	empty    int   // consecutive (0, nil) reads
	full     bool  // the last read filled all the free space of buf

	// Positions of the next LF and CR at or after pos, found with the
	// vectorised bytes.IndexByte and kept between lines: a stream whose
	// lines end in LF alone is scanned for CR once per buffer fill, not once
	// per line. lfAt < pos means unknown; lfTo is where the last fruitless
	// search stopped, so a search resumes there after a fill.
	lfAt, lfTo int
	crAt, crTo int
	skipLF     bool // the last line ended in CR at the end of the buffer
	bomDone    bool

	// The event being assembled. Its data stays in buf (aliased by
	// dataStart:dataEnd) while it is a single line that has not been moved,
	// the common case; otherwise it is copied into data.
	dataMode           int
	dataStart, dataEnd int
	data               []byte
	typ                string
	id                 string

	retry    time.Duration
	hasRetry bool
	types    []string
	nextType int
}

const (
	dataNone = iota
	dataAlias
	dataCopy
)

// NewReader returns a Reader of r with the default configuration.
func NewReader(r io.Reader) *Reader { return NewReaderConfig(r, ReaderConfig{}) }

// NewReaderConfig returns a Reader of r configured by cfg.
func NewReaderConfig(r io.Reader, cfg ReaderConfig) *Reader {
	m := cfg.maxEventSize()
	return &Reader{
		src:  r,
		max:  m,
		buf:  make([]byte, min(initialBufSize, m+2)),
		lfAt: -1,
		crAt: -1,
	}
}

// Reset discards the Reader's state and makes it read src, keeping its
// buffers, so that one Reader can serve many streams in turn.
func (r *Reader) Reset(src io.Reader) {
	*r = Reader{
		src:   src,
		max:   r.max,
		buf:   r.buf,
		data:  r.data[:0],
		lfAt:  -1,
		crAt:  -1,
		types: r.types,
	}
}

// Retry returns the reconnection time the stream last set with a valid retry
// field, and whether it set one. A client that reconnects waits this long
// before it does.
func (r *Reader) Retry() (time.Duration, bool) { return r.retry, r.hasRetry }

// LastEventID returns the last event ID buffer: the value a reconnecting
// client sends in the Last-Event-ID header.
func (r *Reader) LastEventID() string { return r.id }

// Next returns the next event of the stream. At the end of the stream it
// returns io.EOF (an unterminated event there is discarded); an error of the
// underlying reader is returned as it is, once the complete events read
// before it have been returned. After an error every call returns it again.
func (r *Reader) Next() (Event, error) {
	if r.fatal != nil {
		return Event{}, r.fatal
	}
	for {
		s, e, ok := r.line()
		if !ok {
			if r.err != nil {
				r.fatal = r.err
				r.dataMode = dataNone
				return Event{}, r.fatal
			}
			if err := r.fill(); err != nil {
				r.fatal = err
				return Event{}, err
			}
			continue
		}
		if e-s > r.max {
			r.fatal = fmt.Errorf("%w: a line is longer than %d bytes", ErrEventTooLarge, r.max)
			return Event{}, r.fatal
		}
		if s == e {
			if r.dataMode != dataNone {
				return r.dispatch(), nil
			}
			r.typ = ""
			continue
		}
		if err := r.field(s, e); err != nil {
			r.fatal = err
			return Event{}, err
		}
	}
}

// All returns an iterator over the remaining events. It ends after the last
// event at io.EOF; any other error is yielded once, with a zero Event, and
// ends the iteration. Each Event is valid until the loop body returns.
func (r *Reader) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// line finds the next complete line in the buffer and consumes it with its
// terminator; ok is false when the buffer holds none.
func (r *Reader) line() (start, end int, ok bool) {
	if r.skipLF {
		if r.pos == r.end {
			return 0, 0, false
		}
		if r.buf[r.pos] == '\n' {
			r.pos++
		}
		r.skipLF = false
	}
	if !r.bomDone {
		avail := r.buf[r.pos:r.end]
		if len(avail) < len(bom) && r.err == nil && bytes.HasPrefix(bom, avail) {
			return 0, 0, false
		}
		if bytes.HasPrefix(avail, bom) {
			r.pos += len(bom)
		}
		r.bomDone = true
	}
	lf := r.find('\n', &r.lfAt, &r.lfTo)
	cr := r.find('\r', &r.crAt, &r.crTo)
	start = r.pos
	switch {
	case lf >= 0 && (cr < 0 || lf < cr):
		r.pos = lf + 1
		return start, lf, true
	case cr >= 0:
		switch {
		case cr+1 < r.end:
			r.pos = cr + 1
			if r.buf[cr+1] == '\n' {
				r.pos++
			}
		default:
			// The LF of a CRLF may be in the next read; the line is complete
			// now, so it is not held back waiting for it.
			r.pos = cr + 1
			r.skipLF = true
		}
		return start, cr, true
	}
	return 0, 0, false
}

var bom = []byte("\xEF\xBB\xBF")

// find returns the index of the next c in buf[pos:end], or -1, using and
// updating the cached position *at and the scanned limit *to.
func (r *Reader) find(c byte, at, to *int) int {
	if *at >= r.pos {
		return *at
	}
	from := max(r.pos, *to)
	if i := bytes.IndexByte(r.buf[from:r.end], c); i >= 0 {
		*at = from + i
		return *at
	}
	*at, *to = -1, r.end
	return -1
}

// fill moves the unconsumed input to the front of the buffer, grows the
// buffer if a line fills it, and reads once from the source.
func (r *Reader) fill() error {
	if r.pos > 0 {
		if r.dataMode == dataAlias {
			r.data = append(r.data[:0], r.buf[r.dataStart:r.dataEnd]...)
			r.dataMode = dataCopy
		}
		shift := r.pos
		r.end = copy(r.buf, r.buf[r.pos:r.end])
		r.pos = 0
		r.lfAt, r.crAt = r.lfAt-shift, r.crAt-shift
		r.lfTo, r.crTo = max(r.lfTo-shift, 0), max(r.crTo-shift, 0)
	}
	grow := r.end == len(r.buf)
	if grow && len(r.buf) >= r.max+2 {
		// One line fills the whole buffer. A line may be the maximum event
		// size plus its terminator and a CR whose LF is still to come.
		return fmt.Errorf("%w: a line is longer than %d bytes", ErrEventTooLarge, r.max)
	}
	if grow || (r.full && len(r.buf) < min(readAheadSize, r.max+2)) {
		nb := make([]byte, min(2*len(r.buf), r.max+2))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	n, err := r.src.Read(r.buf[r.end:])
	if n < 0 || n > len(r.buf)-r.end {
		return errors.New("sse: reader returned an invalid count")
	}
	r.full = n > 0 && n == len(r.buf)-r.end
	r.end += n
	switch {
	case err != nil:
		r.err = err
	case n == 0:
		r.empty++
		if r.empty >= maxEmptyReads {
			r.err = io.ErrNoProgress
		}
	default:
		r.empty = 0
	}
	return nil
}

// field interprets the non-empty line buf[s:e].
func (r *Reader) field(s, e int) error {
	line := r.buf[s:e]
	if line[0] == ':' {
		return nil
	}
	name, vs := line, e
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, vs = line[:i], s+i+1
		if vs < e && r.buf[vs] == ' ' {
			vs++
		}
	}
	value := r.buf[vs:e]
	switch string(name) {
	case "data":
		return r.addData(vs, e)
	case "event":
		r.typ = r.intern(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.id {
			r.id = string(value)
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			r.retry, r.hasRetry = d, true
		}
	}
	return nil
}

func (r *Reader) addData(vs, e int) error {
	switch r.dataMode {
	case dataNone:
		r.dataMode, r.dataStart, r.dataEnd = dataAlias, vs, e
		return nil
	case dataAlias:
		r.data = append(r.data[:0], r.buf[r.dataStart:r.dataEnd]...)
		r.dataMode = dataCopy
	}
	if len(r.data)+1+(e-vs) > r.max {
		return fmt.Errorf("%w: event data is longer than %d bytes", ErrEventTooLarge, r.max)
	}
	r.data = append(r.data, '\n')
	r.data = append(r.data, r.buf[vs:e]...)
	return nil
}

func (r *Reader) dispatch() Event {
	ev := Event{ID: r.id, Type: r.typ}
	if ev.Type == "" {
		ev.Type = "message"
	}
	if r.dataMode == dataAlias {
		ev.Data = r.buf[r.dataStart:r.dataEnd:r.dataEnd]
	} else {
		ev.Data = r.data
	}
	r.dataMode, r.typ = dataNone, ""
	return ev
}

// intern returns b as a string, reusing one of the last few type strings so
// that a steady stream of events allocates none.
func (r *Reader) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	for _, s := range r.types {
		if string(b) == s {
			return s
		}
	}
	s := string(b)
	if len(r.types) < typeCacheSize {
		r.types = append(r.types, s)
	} else {
		r.types[r.nextType] = s
		r.nextType = (r.nextType + 1) % typeCacheSize
	}
	return s
}

// parseRetry interprets a retry field: ASCII digits only, in milliseconds.
// An empty value, any other byte, or a value too large for a Duration is
// ignored, as the standard says for values that are not digits.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	const limit = int64(1<<63-1) / int64(time.Millisecond)
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > limit {
			return 0, false
		}
	}
	return time.Duration(n) * time.Millisecond, true
}
