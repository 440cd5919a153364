package sse_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/llmhttp/llmhttp/roundtripper"
	"github.com/llmhttp/llmhttp/sse"
)

// The stall sentinels are shared with ws through roundtripper, so one
// errors.Is check covers both transports.
func TestStallSentinelsAreShared(t *testing.T) {
	assert.True(t, errors.Is(roundtripper.ErrFirstTokenTimeout, sse.ErrFirstTokenTimeout))
	assert.True(t, errors.Is(roundtripper.ErrTokenIntervalTimeout, sse.ErrTokenIntervalTimeout))
	assert.False(t, errors.Is(sse.ErrFirstTokenTimeout, sse.ErrTokenIntervalTimeout))
}
