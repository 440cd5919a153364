package retry

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/llmhttp/llmhttp/roundtripper"
)

// Why an attempt was or was not retried, as reported in Attempt.Reason and
// in logs.
const (
	ReasonSuccess       = "success"             // a response the status rule does not retry
	ReasonStatus        = "status"              // a status in Config.Statuses
	ReasonShouldRetry   = "x-should-retry"      // the server's x-should-retry header decided
	ReasonQuota         = "quota exhausted"     // insufficient_quota / enforced_spend_limit_reached: never retried
	ReasonNotSent       = "not sent"            // nothing reached the server (dial, DNS, pool timeout)
	ReasonRejected      = "rejected"            // a layer below refused the call by policy (roundtripper.Rejected): never retried
	ReasonReplayable    = "replayable"          // the caller saw nothing of the attempt (first-token timeout)
	ReasonAmbiguous     = "ambiguous"           // the server may have received the request
	ReasonPermanent     = "permanent error"     // an error retrying cannot fix (certificates, bad URL)
	ReasonCanceled      = "caller canceled"     // the caller's context ended
	ReasonExhausted     = "retries exhausted"   // MaxRetries reached
	ReasonOverCap       = "wait over cap"       // the server asked for a wait longer than MaxRetryAfter
	ReasonDeadline      = "deadline"            // the wait would end after the caller's deadline
	ReasonBudget        = "budget exhausted"    // the host's retry budget had nothing left
	ReasonNotRewindable = "body not rewindable" // the request body has no GetBody
	ReasonCustom        = "config"              // Config.Retryable decided
)

// idempotent reports whether repeating req cannot act twice: its method is
// idempotent by RFC 9110, or it carries an idempotency key the server
// deduplicates on (the same headers net/http's Transport honours).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil
}

// notSent reports whether err proves that nothing reached the server: an
// error saying so through roundtripper.NotSent, a failed dial (refused
// connection, DNS failure, unreachable network), or a connection that broke
// while the request was still being written (the server never had all of
// it; a reset after it was written fails on read, which is ambiguous).
func notSent(err error) bool {
	if roundtripper.NotSent(err) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && (opErr.Op == "dial" || opErr.Op == "proxyconnect" || opErr.Op == "write")
}

// permanent reports whether err cannot go away by retrying: a certificate
// the client does not trust, or a URL the transport cannot use.
func permanent(req *http.Request, err error) bool {
	if req.URL == nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return true
	}
	var (
		unknownAuth *x509.UnknownAuthorityError
		certInvalid *x509.CertificateInvalidError
		hostname    *x509.HostnameError
		verify      *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuth) || errors.As(err, &certInvalid) ||
		errors.As(err, &hostname) || errors.As(err, &verify)
}

// classifyErr decides whether a failed attempt may be repeated, ignoring
// counts, waits and budget.
func (t *transport) classifyErr(req *http.Request, err error) (bool, string) {
	switch {
	case req.Context().Err() != nil:
		return false, ReasonCanceled
	case permanent(req, err):
		return false, ReasonPermanent
	case roundtripper.Rejected(err):
		// A rate limiter past its MaxWait, a health checker with every
		// endpoint out: the layer has spent the wait it allows, and a
		// backoff here would wait it again.
		return false, ReasonRejected
	case notSent(err):
		return true, ReasonNotSent
	case roundtripper.Replayable(err):
		return !t.cfg.NoReplay, ReasonReplayable
	}
	return t.cfg.RetryAmbiguous || idempotent(req), ReasonAmbiguous
}

// quotaCodes mark a 429 that can only fail again: the account is out of
// money, not out of rate. They are stable API error codes, matched as JSON
// strings rather than by wording.
var quotaCodes = [][]byte{
	[]byte(`"insufficient_quota"`),           // OpenAI
	[]byte(`"enforced_spend_limit_reached"`), // Anthropic
	[]byte(`"billing_hard_limit_reached"`),   // OpenAI, older accounts
}

func quotaExhausted(body []byte) bool {
	for _, c := range quotaCodes {
		if bytes.Contains(body, c) {
			return true
		}
	}
	return false
}

// unwrapURL strips the *url.Error http.Client adds: its message repeats the
// URL, query included, which may carry a key.
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok && ue.Err != nil {
		return ue.Err
	}
	return err
}
