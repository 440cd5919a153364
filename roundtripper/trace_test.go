package roundtripper_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/llmhttp/llmhttp/roundtripper"
)

func TestTraceCompose(t *testing.T) {
	ctx := context.Background()
	assert.Nil(t, roundtripper.ContextTrace(ctx))

	var got []string
	ctx = roundtripper.WithTrace(ctx, &roundtripper.Trace{
		Attempt:   func(n int) { got = append(got, "old attempt") },
		StreamEnd: func(o roundtripper.StreamOutcome, err error) { got = append(got, "old end "+string(o)) },
	})
	ctx = roundtripper.WithTrace(ctx, &roundtripper.Trace{
		Attempt:   func(n int) { got = append(got, "new attempt") },
		RetryWait: func(n int, d time.Duration, src string) { got = append(got, "new wait "+src) },
		AttemptDone: func(n, status int, err error) {
			got = append(got, "new done "+http.StatusText(status))
		},
	})
	tr := roundtripper.ContextTrace(ctx)
	tr.Attempt(1)
	tr.AttemptDone(1, http.StatusServiceUnavailable, nil)
	tr.RetryWait(1, time.Second, "backoff")
	tr.StreamEnd(roundtripper.StreamStalled, nil)
	assert.Nil(t, tr.PoolWait)
	assert.Nil(t, tr.StreamEvent)
	assert.Equal(t, []string{"old attempt", "new attempt", "new done Service Unavailable", "new wait backoff", "old end stalled"}, got)
}
