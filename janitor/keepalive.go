package janitor

import (
	"strings"
	"time"
)

// maxKeepAliveHint caps the timeout read from a Keep-Alive header, so that
// absurd values cannot overflow a time.Duration.
const maxKeepAliveHint = 24 * time.Hour

// ParseKeepAlive reads the timeout parameter of a Keep-Alive response header
// value (RFC 2068 §19.7.1.1, as sent by Apache, nginx and Node), such as
// "timeout=5, max=1000". ok is false when there is no valid timeout: a
// non-negative integer count of seconds. Parameter names are matched without
// regard to case; a quoted value is accepted.
func ParseKeepAlive(v string) (timeout time.Duration, ok bool) {
	for part := range strings.SplitSeq(v, ",") {
		name, val, found := strings.Cut(part, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(name), "timeout") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if val == "" {
			return 0, false
		}
		var secs time.Duration
		for i := 0; i < len(val); i++ {
			c := val[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			secs = secs*10 + time.Duration(c-'0')
			if secs*time.Second > maxKeepAliveHint {
				return maxKeepAliveHint, true
			}
		}
		return secs * time.Second, true
	}
	return 0, false
}
