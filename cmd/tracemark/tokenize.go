package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/urfave/cli/v2"

	"github.com/tracemark/tracemark/tokenize"
)

func tokenizeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "tokenize",
		Usage: "print the token IDs of each input as a JSON array (or their count), to compare with other tokenizers",
		UsageText: "tracemark tokenize [--tokenizer NAME] [--count] [FILE|-]...\n\n" +
			"NAME is an encoding (" + strings.Join(tokenize.Names(), ", ") + "), served by tracemark's own encoder,\n" +
			"or " + tokenize.ReferencePrefix + "ENCODING for the tiktoken-go reference implementation,\n" +
			"or an open model's Hugging Face tokenizer.json: a known name (" + strings.Join(knownNames(), ", ") + ",\n" +
			"kept in the cache directory) or a path; add " + tokenize.AddedTokensSuffix + " to match its added tokens in text.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tokenizer", Value: tokenize.Default, Usage: "tokenizer `NAME`"},
			&cli.BoolFlag{Name: "count", Usage: "print the number of tokens instead of the IDs"},
		},
		Action: func(c *cli.Context) error {
			tok, err := loadTokenizer(e, c.String("tokenizer"))
			if err != nil {
				return err
			}
			inputs := c.Args().Slice()
			if len(inputs) == 0 {
				inputs = []string{"-"}
			}
			out := bufio.NewWriter(e.stdout)
			var ids []uint32
			var line []byte
			failed := false
			for _, name := range inputs {
				// The input is released once counted or encoded: the IDs
				// keep nothing of it.
				display, data, release, err := readWholeInput(c.Context, e, name, true)
				n := 0
				if err == nil {
					// data is not changed or kept: view it as the text.
					text := unsafe.String(unsafe.SliceData(data), len(data))
					if c.Bool("count") {
						n, err = tokenize.CountParallel(c.Context, tok, text, 0)
					} else {
						ids, err = tokenize.AppendEncodeParallel(c.Context, tok, ids[:0], text, 0)
					}
				}
				release()
				if err != nil {
					failed = true
					out.Flush()
					fmt.Fprintf(e.stderr, "tracemark: %v\n", err)
					continue
				}
				line = line[:0]
				if c.Bool("count") {
					line = strconv.AppendInt(line, int64(n), 10)
					if len(inputs) > 1 {
						line = append(append(line, '\t'), display...)
					}
				} else {
					line = appendJSONArray(line, ids)
				}
				line = append(line, '\n')
				if _, err := out.Write(line); err != nil {
					return err
				}
			}
			if err := out.Flush(); err != nil {
				return err
			}
			if failed {
				return exitCode(exitError)
			}
			return nil
		},
	}
}

// appendJSONArray appends ids as a JSON array of numbers.
func appendJSONArray(dst []byte, ids []uint32) []byte {
	dst = append(dst, '[')
	for k, id := range ids {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(id), 10)
	}
	return append(dst, ']')
}

func knownNames() []string {
	var out []string
	for _, k := range tokenize.KnownTokenizers() {
		out = append(out, k.Name)
	}
	return out
}
