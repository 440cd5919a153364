package janitor

import "github.com/llmhttp/llmhttp/internal/testserver"

// call sends one chat completion through rt and reads the whole answer.
var call = testserver.Call
