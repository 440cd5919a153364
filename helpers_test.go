package llmhttp_test

import (
	"time"

	"github.com/llmhttp/llmhttp/roundtripper/retry"
)

// retryFast keeps retry's waits short in tests; server hints are still obeyed.
func retryFast() retry.Config {
	return retry.Config{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}
}
