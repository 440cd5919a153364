package faultmatrix_test

import (
	"context"
	"fmt"

	"github.com/llmhttp/llmhttp/bench/faultmatrix"
)

// Run one cell: the server answers the first attempt of each call with a
// 503. llmhttp retries and gets every answer; plain net/http returns the
// 503s.
func ExampleRun() {
	rep, err := faultmatrix.Run(context.Background(), faultmatrix.Options{
		CallsPerCell: 3,
		Cells:        func(c faultmatrix.Cell) bool { return c.Name == "server:503/nonstream/http1" },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Results {
		fmt.Printf("%s: %d ok of %d\n", r.Client, r.OK(), r.Calls)
	}
	fmt.Println("llmhttp violations:", len(rep.Violations()))
	// Output:
	// llmhttp: 3 ok of 3
	// net/http: 0 ok of 3
	// llmhttp violations: 0
}
