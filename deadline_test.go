package llmhttp

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeadlineCtx(t *testing.T) {
	t.Run("expires and cancels what derives from it", func(t *testing.T) {
		var c deadlineCtx
		c.start(context.Background(), 20*time.Millisecond)
		child, cancel := context.WithCancelCause(&c)
		defer cancel(nil)
		ran := make(chan struct{})
		stop := context.AfterFunc(&c, func() { close(ran) })
		defer stop()
		select {
		case <-child.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the child was not cancelled at the deadline")
		}
		<-ran
		<-c.Done()
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
		assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
		assert.True(t, c.timedOut())
		dl, ok := c.Deadline()
		assert.True(t, ok)
		assert.False(t, dl.IsZero())
		c.cancel() // after the deadline: no effect
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	})
	t.Run("cancel ends it and its children", func(t *testing.T) {
		var c deadlineCtx
		c.start(context.WithValue(context.Background(), streamFlagKey{}, 1), time.Hour)
		assert.Equal(t, 1, c.Value(streamFlagKey{}))
		done := c.Done()
		child, cancel := context.WithCancel(&c)
		defer cancel()
		assert.NoError(t, c.Err())
		c.cancel()
		<-done
		<-child.Done()
		assert.ErrorIs(t, c.Err(), context.Canceled)
		assert.False(t, c.timedOut())
		c.cancel() // twice: no effect
		// Done asked for after the end is closed too.
		var d deadlineCtx
		d.start(context.Background(), time.Hour)
		d.cancel()
		<-d.Done()
	})
	t.Run("a stopped child is not called", func(t *testing.T) {
		var c deadlineCtx
		c.start(context.Background(), time.Hour)
		called := false
		stop := c.AfterFunc(func() { called = true })
		assert.True(t, stop())
		assert.False(t, stop())
		c.cancel()
		assert.False(t, called)
		// Registered after the end: runs at once, on its own goroutine.
		ran := make(chan struct{})
		c.AfterFunc(func() { close(ran) })
		<-ran
	})
	t.Run("many at once", func(t *testing.T) {
		errs := make(chan error, 64)
		for i := range 64 {
			go func() {
				var c deadlineCtx
				c.start(context.Background(), time.Duration(i%4)*time.Millisecond)
				child, cancel := context.WithCancel(&c)
				if i%2 == 0 {
					c.cancel()
				}
				<-child.Done()
				cancel()
				if c.Err() == nil {
					errs <- errors.New("not ended")
					return
				}
				errs <- nil
			}()
		}
		for range 64 {
			require.NoError(t, <-errs)
		}
	})
}

func BenchmarkDeadlineCtx(b *testing.B) {
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeoutCause(context.Background(), time.Minute, ErrTotalTimeout)
			child, cancel2 := context.WithCancelCause(ctx)
			_ = child.Done()
			cancel2(nil)
			cancel()
		}
	})
	b.Run("deadlineCtx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := new(deadlineCtx)
			c.start(context.Background(), time.Minute)
			child, cancel2 := context.WithCancelCause(c)
			_ = child.Done()
			cancel2(nil)
			c.cancel()
		}
	})
}
