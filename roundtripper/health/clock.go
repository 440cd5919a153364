package health

import "time"

// clock is the time source of a Checker. Probe scheduling, probe timeouts
// and ejection cooldowns all go through it, so tests drive them with a fake
// clock instead of sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d and returns a function
	// that cancels the call, reporting whether it did so before f ran.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
