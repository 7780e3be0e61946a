package probe_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/tracemark/tracemark/probe"
)

func ExampleReadPrompts() {
	file := "What is a river?\n" +
		`{"id": "q2", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}]}` + "\n" +
		"{not json\n"
	ps, err := probe.ReadPrompts(strings.NewReader(file), true)
	if err != nil {
		panic(err)
	}
	for _, p := range ps.Prompts {
		fmt.Println(p.Line, p.Name, p.Texts())
	}
	fmt.Println(ps.Bad[0].Line, len(ps.Bad))
	// Output:
	// 1  [What is a river?]
	// 2 q2 [Be brief. Why is the sky blue?]
	// 3 1
}

func ExampleCollect() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "An answer."}}], "usage": {"completion_tokens": 3}}`)
	}))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "probe-example")
	defer os.RemoveAll(dir)
	ps, _ := probe.ReadPrompts(strings.NewReader("first\nsecond\n"), true)
	cfg := probe.Config{Endpoint: srv.URL + "/v1", Model: "suspect", Dir: dir}
	col, err := probe.Collect(context.Background(), cfg, ps.Prompts)
	fmt.Println(col.Answered, col.CompletionTokens, err)
	col, err = probe.Collect(context.Background(), cfg, ps.Prompts) // a rerun sends nothing
	fmt.Println(col.Sent, col.AlreadyAnswered, err)
	// Output:
	// 2 6 <nil>
	// 0 2 <nil>
}
