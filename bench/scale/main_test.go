package scale

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	ServeChild() // when started as the server process: serve, then exit
	goleak.VerifyTestMain(m)
}
