package ws

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// link is one WebSocket connection: one server session.
type link struct {
	c       *Conn
	wc      *websocket.Conn
	raw     io.ReadWriteCloser // the upgraded connection, when captured
	session Session
	next    *link // the session that replaced this one by rollover; guarded by c.mu

	msgs     chan message
	dead     chan struct{} // closed when the connection is gone
	once     sync.Once
	err      error // why, set before dead is closed
	reported atomic.Bool
	closing  atomic.Pointer[error] // the cause given to closeClean

	ctx    context.Context // the reader's; cancelling it closes wc
	cancel context.CancelFunc
	wg     sync.WaitGroup

	reads      atomic.Int64 // messages read
	delivering atomic.Bool  // the reader waits for the caller to take a message

	wmu      sync.Mutex // watchdog state
	pending  bool       // a response is awaited
	events   int        // response events so far
	deadline time.Time
	started  time.Time // of the current wait
	idle     chan struct{}
	kick     chan struct{}
}

type message struct {
	typ  MessageType
	data []byte
}

func newLink(c *Conn, wc *websocket.Conn, raw io.ReadWriteCloser) *link {
	l := &link{
		c:    c,
		wc:   wc,
		raw:  raw,
		msgs: make(chan message, 16),
		dead: make(chan struct{}),
		kick: make(chan struct{}, 1),
		idle: make(chan struct{}),
	}
	close(l.idle)
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

func (l *link) start() {
	l.wg.Add(2)
	go l.readLoop()
	go l.watch()
	if l.c.cfg.pingInterval() > 0 {
		l.wg.Add(1)
		go l.heartbeat()
	}
}

func (l *link) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// fail ends the connection with err as the cause, at once: every pending
// Read and Write returns. The goroutines exit on their own.
func (l *link) fail(err error) {
	l.once.Do(func() {
		if cc := l.closing.Load(); cc != nil {
			err = *cc // the reader saw our own close; say why we closed
		}
		l.err = err
		close(l.dead)
		l.cancel()
		if l.raw != nil {
			l.raw.Close()
		}
		l.c.logWarn("ws: connection lost", "session", l.session.ID, "error", err)
	})
}

func (l *link) lostErr() error {
	<-l.dead
	if errors.Is(l.err, ErrClosed) {
		return ErrClosed
	}
	return &LostError{Host: l.c.host, Session: l.session.ID, Err: l.err}
}

// closeNow drops the connection without a close handshake and waits.
func (l *link) closeNow(cause error) {
	l.fail(cause)
	l.wc.CloseNow()
	l.wg.Wait()
}

// closeClean runs the close handshake, bounded by CloseTimeout, then makes
// sure the TCP connection is closed and every goroutine has exited.
func (l *link) closeClean(code websocket.StatusCode, reason string, cause error) error {
	if l.isDead() {
		l.wc.CloseNow()
		l.wg.Wait()
		return nil
	}
	l.closing.Store(&cause)
	done := make(chan error, 1)
	go func() { done <- l.wc.Close(code, reason) }()
	t := time.NewTimer(l.c.cfg.closeTimeout())
	var err error
	select {
	case err = <-done:
		t.Stop()
	case <-t.C:
		// The peer did not answer in time: closing the connection under
		// the library ends its wait too.
		l.fail(cause)
		err = <-done
	}
	l.fail(cause)
	l.wg.Wait()
	// An error here means the peer did not answer the close properly; the
	// connection is closed either way, and there is nothing to act on.
	_ = err
	return nil
}

func (l *link) readLoop() {
	defer l.wg.Done()
	limit := l.c.cfg.maxMessageSize()
	for {
		typ, r, err := l.wc.Reader(l.ctx)
		if err != nil {
			l.fail(readErr(err))
			return
		}
		var data []byte
		if limit >= 0 {
			data, err = io.ReadAll(io.LimitReader(r, limit+1))
			if err == nil && int64(len(data)) > limit {
				// 1009 is "message too big"; the close frame is best
				// effort, the connection ends regardless.
				l.fail(&MessageTooBigError{Limit: limit})
				return
			}
		} else {
			data, err = io.ReadAll(r)
		}
		if err != nil {
			l.fail(readErr(err))
			return
		}
		l.reads.Add(1)
		if typ == MessageText {
			l.observe(EventType(data))
		}
		l.delivering.Store(true)
		select {
		case l.msgs <- message{typ, data}:
		case <-l.dead:
			return
		}
		l.delivering.Store(false)
	}
}

func readErr(err error) error {
	if code := websocket.CloseStatus(err); code != -1 {
		var ce websocket.CloseError
		errors.As(err, &ce)
		return &CloseError{Code: int(code), Reason: ce.Reason}
	}
	return err
}

// heartbeat pings every PingInterval and ends the connection when neither
// a pong nor any message came within PingTimeout.
func (l *link) heartbeat() {
	defer l.wg.Done()
	cfg := &l.c.cfg
	t := time.NewTimer(cfg.pingInterval())
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.dead:
			return
		}
		// A reader held up by a slow caller cannot read the pong; the
		// peer is alive, it is sending.
		if !l.delivering.Load() {
			before := l.reads.Load()
			ctx, cancel := context.WithTimeout(l.ctx, cfg.pingTimeout())
			err := l.wc.Ping(ctx)
			cancel()
			if err != nil && !l.isDead() && l.reads.Load() == before && !l.delivering.Load() {
				if l.ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
					err = ErrPingTimeout
				}
				l.fail(err)
				return
			}
		}
		t.Reset(cfg.pingInterval())
	}
}

// arm starts the response watchdog unless a response is already awaited.
func (l *link) arm() {
	cfg := &l.c.cfg
	first := cfg.firstEventTimeout()
	if first <= 0 && cfg.eventIntervalTimeout() <= 0 {
		return
	}
	l.wmu.Lock()
	if !l.pending {
		now := l.c.now()
		l.pending = true
		l.events = 0
		l.started = now
		l.deadline = time.Time{}
		if first > 0 {
			l.deadline = now.Add(first)
		}
		l.idle = make(chan struct{})
	}
	l.wmu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// observe counts a server event towards the awaited response.
func (l *link) observe(typ string) {
	cfg := &l.c.cfg
	if cfg.isKeepAlive(typ) {
		return
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if !l.pending {
		return
	}
	if cfg.isDoneEvent(typ) {
		l.pending = false
		close(l.idle)
		return
	}
	now := l.c.now()
	l.events++
	l.started = now
	l.deadline = time.Time{}
	if d := cfg.eventIntervalTimeout(); d > 0 {
		l.deadline = now.Add(d)
	}
}

// idleCh is closed when no response is awaited.
func (l *link) idleCh() <-chan struct{} {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.idle
}

// watch ends the connection when the awaited response stalls. Deadlines
// only move later between kicks, so a timer that fires early is re-armed.
func (l *link) watch() {
	defer l.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		l.wmu.Lock()
		pending, deadline := l.pending, l.deadline
		l.wmu.Unlock()
		var tc <-chan time.Time
		if pending && !deadline.IsZero() {
			t.Reset(deadline.Sub(l.c.now()))
			tc = t.C
		}
		select {
		case <-l.kick:
			t.Stop()
		case <-tc:
			if err := l.stalled(); err != nil {
				l.fail(err)
				return
			}
		case <-l.dead:
			t.Stop()
			return
		}
	}
}

// stalled returns the stall error if the deadline has passed.
func (l *link) stalled() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	now := l.c.now()
	if !l.pending || l.deadline.IsZero() || now.Before(l.deadline) {
		return nil
	}
	sentinel := roundtripper.ErrTokenIntervalTimeout
	if l.events == 0 {
		sentinel = roundtripper.ErrFirstTokenTimeout
	}
	return &StallError{Err: sentinel, Host: l.c.host, Events: l.events, Waited: now.Sub(l.started)}
}
