package serve_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/serve"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
)

// The n-gram backend's chat template.
func ExampleNgramChatPrompt() {
	fmt.Printf("%q\n", serve.NgramChatPrompt([]serve.Message{
		{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"},
	}))
	// Output: "System: Be brief.\n\nUser: Hi\n\nAssistant:"
}

// Adding customers: each gets a fresh API key (returned once, stored only
// as its SHA-256) and a payload, its fingerprint.
func ExampleAddCustomer() {
	dir, _ := os.MkdirTemp("", "creds")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "creds.json")
	for _, id := range []string{"acme", "lab-b"} {
		key, entry, err := serve.AddCustomer(path, serve.Customer{ID: id}, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(entry.ID, len(entry.Payload) > 0, len(key) > 40)
	}
	// Output:
	// acme true true
	// lab-b true true
}

// A watermarked server for the built-in model on a free loopback port,
// stopped by cancelling its context (in-flight requests finish, the log is
// closed).
func ExampleServer_Serve() {
	// A small student model; ngram.Builtin gives the built-in one.
	tok, _ := tokenize.Get(ngram.BuiltinTokenizer)
	ids, _ := tok.AppendEncode(nil, "The sea was calm that night, and the boats came home full of fish.")
	model, err := ngram.Train(context.Background(), [][]uint32{ids}, ngram.BuiltinVocab)
	if err != nil {
		fmt.Println(err)
		return
	}
	backend, _ := serve.NewNgramBackend("tracemark-ngram", model)
	key, _ := watermark.GenerateKey(watermark.DefaultKGW(), ngram.BuiltinTokenizer)
	scheme, _ := watermark.NewScheme(key, key.Scheme)
	dir, _ := os.MkdirTemp("", "served")
	defer os.RemoveAll(dir)
	log, _ := servelog.Create(dir, servelog.Options{})
	srv, err := serve.New(serve.Config{Backends: []serve.Backend{backend}, Scheme: scheme, Log: log})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	// ... clients use http://<ln.Addr()>/v1 ...
	stop()
	fmt.Println(<-done)
	// Output: <nil>
}
