package transport

import "github.com/llmhttp/llmhttp/internal/fakeclock"

// fakeClock is the shared test clock; time moves only on Advance.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New() }
