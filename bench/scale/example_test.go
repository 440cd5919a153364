package scale_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/llmhttp/llmhttp/bench/scale"
)

// A small burst through every client. A program (not a test) calls
// scale.ServeChild first thing in main; this package's TestMain does.
func ExampleRunBurst() {
	rep, err := scale.RunBurst(context.Background(), scale.BurstOptions{Calls: 20, Tokens: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range rep.Rows {
		fmt.Printf("%s: %d of 20 streamed, %d TTFT samples\n", row.Name, row.OK, len(row.TTFT))
	}
	_ = rep.Markdown(io.Discard) // the section for BENCHMARKS.md
	// Output:
	// http.DefaultTransport (clone): 20 of 20 streamed, 20 TTFT samples
	// transport.LowConcurrency: 20 of 20 streamed, 20 TTFT samples
	// transport.MediumConcurrency: 20 of 20 streamed, 20 TTFT samples
	// transport.HighConcurrency: 20 of 20 streamed, 20 TTFT samples
	// transport.Streaming: 20 of 20 streamed, 20 TTFT samples
	// transport.LocalInference: 20 of 20 streamed, 20 TTFT samples
	// llmhttp.NewClient (zero Config): 20 of 20 streamed, 20 TTFT samples
}

// A scale run of 200 streams, 2 of them stalled.
func ExampleRunScale() {
	rep, err := scale.RunScale(context.Background(), scale.ScaleOptions{Streams: 200, TokenIntervalTimeout: 2 * time.Second, Hold: 100 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d streams, %d stalled, %d caught, %d healthy ones cut\n", rep.Streams, rep.Stalled, rep.Detected, rep.FalseStalls)
	// Output: 200 streams, 2 stalled, 2 caught, 0 healthy ones cut
}
