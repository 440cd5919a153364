package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmhttp/llmhttp/sse"
)

// result is what one client did with the batch.
type result struct {
	ok          int
	ttft        []time.Duration   // of calls that received a token
	conns       int64             // connections opened
	attempts    int64             // requests sent, retries included
	stalls      int64             // stalls detected and cut
	reissued    int64             // calls the program itself sent again after a cut stream
	errs        map[string]int    // failures by kind
	examples    map[string]string // the first error of each kind, for the details under the table
	wall        time.Duration
	fullAnswers bool
}

type call struct {
	client  *http.Client
	url     string
	apiKey  string
	model   string
	tokens  int
	attempt func() // counts requests the program sends (the client's own retries are counted elsewhere)
}

// runBatch sends n streaming calls, c at once, and reports what happened.
// A stream that the client cut for stalling after its first token
// (sse.ErrTokenIntervalTimeout) is sent again by the program, up to twice:
// that is what an application does with a typed error it can recognise.
func runBatch(ctx context.Context, progress io.Writer, label string, n, c int, cl call, stalls *atomic.Int64) result {
	res := result{errs: map[string]int{}, examples: map[string]string{}}
	var (
		mu    sync.Mutex
		done  atomic.Int64
		conns atomic.Int64
		reiss atomic.Int64
		wg    sync.WaitGroup
	)
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			conns.Add(1)
		}
	}}
	sem := make(chan struct{}, c)
	start := time.Now()
	stop := make(chan struct{})
	var tick sync.WaitGroup
	tick.Add(1)
	go func() {
		defer tick.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintf(progress, "\r%-8s %4d/%d calls done in %v\n", label, done.Load(), n, time.Since(start).Round(100*time.Millisecond))
				return
			case <-t.C:
				fmt.Fprintf(progress, "\r%-8s %4d/%d calls done", label, done.Load(), n)
			}
		}
	}()
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var ttft time.Duration
			var err error
			for try := 0; try < 3; try++ {
				ttft, err = stream(httptrace.WithClientTrace(ctx, trace), cl)
				if !errors.Is(err, sse.ErrTokenIntervalTimeout) {
					break
				}
				reiss.Add(1)
			}
			mu.Lock()
			if err == nil {
				res.ok++
			} else {
				k := kind(err)
				res.errs[k]++
				if _, ok := res.examples[k]; !ok {
					res.examples[k] = detail(err)
				}
			}
			if ttft > 0 {
				res.ttft = append(res.ttft, ttft)
			}
			mu.Unlock()
			done.Add(1)
		}()
	}
	wg.Wait()
	close(stop)
	tick.Wait()
	res.wall = time.Since(start)
	res.conns = conns.Load()
	res.reissued = reiss.Load()
	if stalls != nil {
		res.stalls = stalls.Load()
	}
	slices.Sort(res.ttft)
	return res
}

// stream sends one streaming chat completion and reads it to its end. It
// returns the time to the first content token, if one came.
func stream(ctx context.Context, cl call) (time.Duration, error) {
	body, _ := json.Marshal(map[string]any{
		"model": cl.model, "stream": true, "max_tokens": cl.tokens,
		"messages": []map[string]string{{"role": "user", "content": "Count slowly."}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.url+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if cl.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+cl.apiKey)
	}
	if cl.attempt != nil {
		cl.attempt()
	}
	start := time.Now()
	resp, err := cl.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var ttft time.Duration
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream ended without [DONE]")
			}
			return ttft, err
		}
		if string(ev.Data) == "[DONE]" {
			return ttft, nil
		}
		if ttft == 0 && bytes.Contains(ev.Data, []byte(`"content":"`)) && !bytes.Contains(ev.Data, []byte(`"content":""`)) {
			ttft = time.Since(start)
		}
	}
}

// detail is the text of err for the list of failures, without the URL
// that http.Client's *url.Error repeats (its query could carry a key).
// llmhttp's own errors never contain a credential.
func detail(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// kind names a failure for the table, without any detail that could carry a
// credential.
func kind(err error) string {
	var se interface{ Timeout() bool }
	switch {
	case errors.Is(err, sse.ErrFirstTokenTimeout), errors.Is(err, sse.ErrTokenIntervalTimeout):
		return "stalled (cut by watchdog)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &se) && se.Timeout():
		return "timed out"
	case errors.Is(err, sse.ErrTruncated):
		return "truncated"
	}
	msg := err.Error()
	switch {
	case len(msg) >= 6 && msg[:6] == "status":
		return msg
	case bytes.Contains([]byte(msg), []byte("reset")) || bytes.Contains([]byte(msg), []byte("EOF")):
		return "connection cut"
	}
	return "other error"
}
