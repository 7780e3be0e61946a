// Command vocabgen writes the compact vocabularies that package tokenize
// embeds (tokenize/vocab/NAME.bpe, in the indexed form of bpe.Ranks.MarshalIndexed,
// which the program uses in place), reading them
// out of github.com/tiktoken-go/tokenizer. Run it with go generate in
// package tokenize; TestEmbeddedVocabulariesMatchTiktokenGo checks its output.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tracemark/tracemark/tokenize/internal/tiktokengo"
)

func main() {
	dir := flag.String("dir", "vocab", "output directory")
	flag.Parse()
	for _, name := range flag.Args() {
		if err := write(*dir, name); err != nil {
			fmt.Fprintf(os.Stderr, "vocabgen: %v\n", err)
			os.Exit(1)
		}
	}
}

func write(dir, name string) error {
	ranks, err := tiktokengo.Ranks(name)
	if err != nil {
		return err
	}
	data, err := ranks.MarshalIndexed()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	path := filepath.Join(dir, name+".bpe")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
