package ws_test

import (
	"bytes"
	"encoding/json"
	"io"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// countTypeKeys counts the top-level keys spelled exactly "type" (after
// unescaping) of the object dec holds.
func countTypeKeys(dec *json.Decoder, n *int) {
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return
		}
		if k == "type" {
			*n++
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return
		}
	}
}
