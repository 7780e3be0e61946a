package servelog_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tracemark/tracemark/serve/servelog"
)

// A server logs each response before sending it; attribution reads the
// log back and checks that every line was read.
func Example() {
	dir, err := os.MkdirTemp("", "servelog")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w, err := servelog.Create(dir, servelog.Options{})
	if err != nil {
		log.Fatal(err)
	}
	err = w.Write(servelog.Record{
		RequestID: "chatcmpl-1", Customer: "acme", Model: "tracemark-ngram",
		Endpoint: "chat.completions", Watermarked: true, KeyID: "3f2a9c0d11e4b7a8",
		Scheme: "kgw", Tokenizer: "o200k_base",
		PromptTokens: []uint32{9906, 0}, Completions: [][]uint32{{13225, 1917}},
	})
	if err != nil {
		log.Fatal(err) // a server answers 503 instead of serving unlogged output
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	st, err := servelog.Read(context.Background(), dir, func(r servelog.Record) error {
		fmt.Println(r.Customer, r.Completions[0])
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("complete:", st.Complete(), "records:", st.Records)
	// Output:
	// acme [13225 1917]
	// complete: true records: 1
}
