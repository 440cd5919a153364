package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/llmhttp/llmhttp/bench/faultmatrix"
)

// runMatrix writes the fault matrix: every cell against llmhttp.NewClient
// and plain net/http, with the invariant checks. A violation fails the
// command after the report is written, so it cannot go unnoticed.
func runMatrix(ctx context.Context, e *env, w io.Writer) error {
	opt := faultmatrix.Options{CallsPerCell: 20}
	if e.Quick {
		opt.CallsPerCell = 5
	}
	var done atomic.Int64
	opt.Progress = func(*faultmatrix.CellResult) {
		if n := done.Add(1); n%20 == 0 {
			fmt.Fprintf(e.Log, "   %d cell runs done\n", n)
		}
	}
	rep, err := faultmatrix.Run(ctx, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "## Fault matrix\n\n")
	if err := rep.Markdown(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if v := rep.Violations(); len(v) > 0 {
		e.Failures = append(e.Failures, fmt.Sprintf("fault matrix: %d invariant violations (listed in the report)", len(v)))
	}
	return nil
}
