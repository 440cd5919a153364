package retry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// peekLimit is how much of an error body is read to decide: enough
	// for any API error object, little enough to cost nothing.
	peekLimit = 4 << 10

	// drainLimit bounds how much of a discarded body is read so that its
	// connection can be reused; a longer body costs its connection instead
	// (go-retryablehttp's respReadLimit).
	drainLimit = 4 << 10

	// snippetLimit bounds the error body quoted in an Error.
	snippetLimit = 200

	// peekTimeout bounds the wait for the start of an error body: servers
	// send it with the headers, so a longer wait means a broken one.
	peekTimeout = 10 * time.Second
)

// peekedBody gives back the bytes read to decide, then the rest of the
// original body: the caller reads exactly what the server sent.
type peekedBody struct {
	io.Reader
	body io.ReadCloser
}

func (p *peekedBody) Close() error { return p.body.Close() }

// peek reads up to peekLimit bytes of body and returns them with a body that
// replays them before the rest. An error body that stalls is closed after
// timeout, so the decision never waits on it for longer.
func peek(body io.ReadCloser, timeout time.Duration) ([]byte, io.ReadCloser) {
	buf := make([]byte, peekLimit)
	stall := time.AfterFunc(timeout, func() { _ = body.Close() })
	n, _ := io.ReadFull(body, buf)
	stall.Stop()
	buf = buf[:n]
	// Whatever ended the read (EOF, the limit, a broken body), the caller
	// reads the same bytes and then what the body gives next.
	return buf, &peekedBody{Reader: io.MultiReader(bytes.NewReader(buf), body), body: body}
}

// drain reads a discarded body (bounded) and closes it, so that an intact
// connection goes back to the pool.
func drain(body io.ReadCloser) {
	if body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}

// cancelBody ends an attempt's context once its body is done with, so that
// the attempt timer's context does not outlive the response.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.cancel(nil)
	}
	return n, err
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// snippet returns a short, credential-free summary of an API error body:
// its message field if it is an API error object, else its start.
func snippet(body []byte) string {
	var obj struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	s := ""
	if json.Unmarshal(body, &obj) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		switch {
		case len(obj.Error) > 0 && json.Unmarshal(obj.Error, &inner) == nil && inner.Message != "":
			s = inner.Message
		case len(obj.Error) > 0 && obj.Error[0] == '"':
			_ = json.Unmarshal(obj.Error, &s)
		case obj.Message != "":
			s = obj.Message
		}
	}
	if s == "" {
		s = string(body)
	}
	s = redact(strings.Join(strings.Fields(s), " "))
	if len(s) > snippetLimit {
		s = s[:snippetLimit]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// redact replaces every word that looks like a credential: API keys
// ("sk-…", "sk-ant-…", "key-…"), the word after "Bearer", and long runs of
// key-like characters an error may echo back.
func redact(s string) string {
	words := strings.Fields(s)
	changed := false
	for i, w := range words {
		if looksSecret(w) || (i > 0 && strings.EqualFold(words[i-1], "bearer")) {
			words[i] = "[redacted]"
			changed = true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(words, " ")
}

func looksSecret(w string) bool {
	w = strings.Trim(w, `.,;:'"()[]{}`)
	lw := strings.ToLower(w)
	for _, p := range []string{"sk-", "sk_", "key-", "api_key=", "api-key=", "key="} {
		if strings.HasPrefix(lw, p) {
			return true
		}
	}
	run := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '*' {
			run++
			if run >= 24 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}
