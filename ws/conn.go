package ws

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/llmhttp/llmhttp/internal/backoff"
)

// MessageType is the kind of a WebSocket data message.
type MessageType = websocket.MessageType

// The two message types.
const (
	MessageText   = websocket.MessageText
	MessageBinary = websocket.MessageBinary
)

// Conn is a WebSocket connection to one server session, or with
// Reconnect or MaxSessionAge to a succession of them. Read is meant for one
// goroutine at a time; Write, WriteJSON and Close are safe from any.
type Conn struct {
	cfg    Config
	url    string
	host   string
	client *http.Client
	now    func() time.Time
	rand   func() float64

	ctx    context.Context // ends with Close: bounds rollovers
	cancel context.CancelFunc

	dialMu sync.Mutex // one reconnection at a time

	mu       sync.Mutex
	cur      *link
	sessions int
	closed   bool

	bg        sync.WaitGroup // rollover goroutines
	closeOnce sync.Once
	closeErr  error
}

// Dial opens a WebSocket connection to url (ws://, wss://, http:// or
// https://) through cfg.HTTPClient. ctx bounds the handshake only. A
// refused handshake is a *HandshakeError, any other failure a *DialError.
func Dial(ctx context.Context, url string, cfg Config) (*Conn, error) {
	return dial(ctx, url, cfg, time.Now)
}

func dial(ctx context.Context, rawURL string, cfg Config, now func() time.Time) (*Conn, error) {
	cfg.Header = cfg.Header.Clone()
	cfg.Subprotocols = append([]string(nil), cfg.Subprotocols...)
	c := &Conn{cfg: cfg, url: rawURL, host: hostOf(rawURL), now: now, rand: rand.Float64}
	base := http.DefaultClient
	if cfg.HTTPClient != nil {
		base = cfg.HTTPClient
	}
	cl := *base
	rt := cl.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cl.Transport = &captureTransport{base: rt}
	c.client = &cl
	c.ctx, c.cancel = context.WithCancel(context.Background())
	l, err := c.dialLink(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.install(l, nil)
	return c, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "?"
	}
	return u.Host
}

// rawKey carries, in a handshake's context, where captureTransport puts the
// upgraded connection.
type rawKey struct{}

// captureTransport keeps hold of the connection behind a 101 answer, so
// that Close can close it after CloseTimeout whatever state the WebSocket
// library is in.
type captureTransport struct{ base http.RoundTripper }

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		if p, ok := req.Context().Value(rawKey{}).(*io.ReadWriteCloser); ok {
			if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
				*p = rwc
			}
		}
	}
	return resp, err
}

// dialLink makes one handshake and starts the new connection's goroutines.
func (c *Conn) dialLink(ctx context.Context) (*link, error) {
	if d := c.cfg.handshakeTimeout(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var raw io.ReadWriteCloser
	ctx = context.WithValue(ctx, rawKey{}, &raw)
	wc, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:   c.client,
		HTTPHeader:   c.cfg.Header,
		Subprotocols: c.cfg.Subprotocols,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<10))
				resp.Body.Close()
			}
			return nil, newHandshakeError(c.host, resp.StatusCode, body)
		}
		if ce := ctx.Err(); ce != nil && !errors.Is(err, ce) {
			err = errors.Join(ce, err)
		}
		return nil, &DialError{Host: c.host, Err: err}
	}
	// The library enforces its own limit (32 KiB by default); ours is
	// applied in the read loop, so that the error is ours to type.
	wc.SetReadLimit(-1)
	return newLink(c, wc, raw), nil
}

// install makes l the current connection and starts its rollover timer.
func (c *Conn) install(l *link, cause error) (Session, bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.closeNow(ErrClosed)
		return Session{}, false
	}
	c.sessions++
	l.session = Session{ID: c.sessions, Started: c.now(), Cause: cause}
	prev := c.cur
	if prev != nil {
		prev.next = l
	}
	c.cur = l
	c.mu.Unlock()
	l.start()
	if age := c.cfg.MaxSessionAge; age > 0 {
		c.bg.Add(1)
		go c.rollover(l, age)
	}
	return l.session, true
}

// Session returns the current session.
func (c *Conn) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return Session{}
	}
	return c.cur.session
}

// current returns the connection to use, following rollovers. For a read
// (reconnect true) on a lost connection whose loss was already reported,
// it reconnects when Reconnect allows.
func (c *Conn) current(ctx context.Context, read bool) (*link, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	l := c.cur
	for l.next != nil {
		l = l.next
	}
	c.cur = l
	if !l.isDead() || (read && len(l.msgs) > 0) {
		// Messages that arrived before a loss are still read first.
		c.mu.Unlock()
		return l, nil
	}
	reported := l.reported.Swap(true)
	c.mu.Unlock()
	if !read || !reported || c.cfg.Reconnect.MaxAttempts <= 0 {
		return nil, l.lostErr()
	}
	return c.reconnect(ctx, l)
}

// Reconnect replaces a lost connection by a new session now, as the next
// Read would with Reconnect on, whether or not Reconnect is configured
// (then it dials once). On a live connection it does nothing.
func (c *Conn) Reconnect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	l := c.cur
	for l.next != nil {
		l = l.next
	}
	c.mu.Unlock()
	if !l.isDead() {
		return nil
	}
	l.reported.Store(true)
	_, err := c.reconnect(ctx, l)
	return err
}

// reconnect dials until a new session is up, the attempts are used up, the
// server refuses for good or ctx ends. Messages sent on the lost session are
// not sent again.
func (c *Conn) reconnect(ctx context.Context, lost *link) (*link, error) {
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur != lost && !cur.isDead() {
		return cur, nil // another goroutine reconnected meanwhile
	}
	rc := &c.cfg.Reconnect
	attempts := max(rc.MaxAttempts, 1)
	cause := lost.lostErr()
	var last error
	for n := 1; n <= attempts; n++ {
		if d := backoff.Full(n, rc.baseDelay(), rc.maxDelay(), c.rand); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-c.ctx.Done():
				t.Stop()
				return nil, ErrClosed
			}
		}
		l, err := c.dialLink(ctx)
		if err == nil {
			s, ok := c.install(l, cause)
			if !ok {
				return nil, ErrClosed
			}
			c.logInfo("ws: new session after a lost connection", "session", s.ID, "attempts", n)
			if f := c.cfg.OnNewSession; f != nil {
				f(s)
			}
			return l, nil
		}
		last = err
		if ctx.Err() != nil {
			return nil, err
		}
		var he *HandshakeError
		if errors.As(err, &he) && !he.Temporary() {
			return nil, err
		}
	}
	return nil, &ReconnectError{Host: c.host, Attempts: attempts, Err: last}
}

// Read returns the next message. On a lost connection it fails with a
// *LostError; the Read after that reconnects when Reconnect is on.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	for {
		l, err := c.current(ctx, true)
		if err != nil {
			return 0, nil, err
		}
		select {
		case m := <-l.msgs:
			return m.typ, m.data, nil
		case <-l.dead:
			select {
			case m := <-l.msgs: // what arrived before the loss is still good
				return m.typ, m.data, nil
			default:
			}
			c.mu.Lock()
			next := l.next
			c.mu.Unlock()
			if next != nil {
				continue // rolled over
			}
			l.reported.Store(true)
			return 0, nil, l.lostErr()
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// Write sends one message. A text message whose event type is in
// ResponseEvents starts the response watchdog. Write never reconnects: on
// a lost connection it fails with a *LostError and sends nothing. If ctx
// ends mid-write, the connection is lost (a half-written frame cannot be
// taken back).
func (c *Conn) Write(ctx context.Context, typ MessageType, data []byte) error {
	l, err := c.current(ctx, false)
	if err != nil {
		return err
	}
	if typ == MessageText && c.cfg.isResponseEvent(EventType(data)) {
		l.arm()
	}
	if err := l.wc.Write(ctx, typ, data); err != nil {
		if l.isDead() {
			return l.lostErr()
		}
		l.fail(err)
		return l.lostErr()
	}
	return nil
}

// Close closes the connection cleanly: a close frame (1000), then up to
// CloseTimeout for the peer's, then the TCP connection is closed whatever
// the peer does. It waits for every goroutine of the Conn and is safe to
// call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		l := c.cur
		c.mu.Unlock()
		c.cancel()
		c.bg.Wait()
		for l.next != nil {
			l = l.next
		}
		c.closeErr = l.closeClean(websocket.StatusNormalClosure, "", ErrClosed)
	})
	return c.closeErr
}

// rollover opens a new session once l has reached age and no response is
// in flight, switches to it and closes l cleanly.
func (c *Conn) rollover(l *link, age time.Duration) {
	defer c.bg.Done()
	t := time.NewTimer(age)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.dead:
		return
	case <-c.ctx.Done():
		return
	}
	for attempt := 1; ; attempt++ {
		select {
		case <-l.idleCh():
		case <-l.dead:
			return
		case <-c.ctx.Done():
			return
		}
		c.dialMu.Lock()
		nl, err := c.dialLink(c.ctx)
		if err == nil {
			s, ok := c.install(nl, ErrSessionMaxAge)
			c.dialMu.Unlock()
			if !ok {
				return
			}
			c.logInfo("ws: rolled the session over", "session", s.ID, "age", age)
			if f := c.cfg.OnNewSession; f != nil {
				f(s)
			}
			// The old session's close runs here, not in l's goroutines,
			// so that it can wait for them.
			l.closeClean(websocket.StatusNormalClosure, "session rollover", ErrSessionMaxAge)
			return
		}
		c.dialMu.Unlock()
		c.logWarn("ws: session rollover failed, will retry", "error", err)
		rc := &c.cfg.Reconnect
		t.Reset(max(backoff.Ceiling(attempt, rc.baseDelay(), rc.maxDelay())/2, time.Millisecond))
		select {
		case <-t.C:
		case <-l.dead:
			return
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *Conn) logInfo(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Info(msg, append([]any{"host", c.host}, args...)...)
	}
}

func (c *Conn) logWarn(msg string, args ...any) {
	if c.cfg.Logger != nil {
		c.cfg.Logger.Warn(msg, append([]any{"host", c.host}, args...)...)
	}
}
