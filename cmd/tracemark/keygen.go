package main

import (
	"errors"
	"fmt"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

func keygenCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make a new secret watermark key file (mode 0600)",
		UsageText: "tracemark keygen --out KEYFILE [--scheme SPEC] [--tokenizer NAME] [--force]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "key file to write (required; the secret is never printed)", Required: true},
			&cli.StringFlag{Name: "scheme", Value: watermark.DefaultSpec, Usage: "default scheme `SPEC` stored with the key"},
			&cli.StringFlag{Name: "tokenizer", Value: tokenize.Default, Usage: "tokenizer `NAME` of the model whose token IDs are marked"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing key file"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("keygen takes no arguments (got %q)", c.Args().First())
			}
			scheme, err := watermark.ParseSpec(c.String("scheme"))
			if err != nil {
				return err
			}
			tok, err := loadTokenizer(e, c.String("tokenizer"))
			if err != nil {
				return err
			}
			if looksLikeKeyMaterial(c.String("out")) {
				return errKeyMaterial("--out")
			}
			key, err := watermark.GenerateKey(scheme, tok.Name())
			if err != nil {
				return err
			}
			if err := key.WriteKeyFile(c.String("out"), c.Bool("force")); err != nil {
				if errors.Is(err, watermark.ErrKeyExists) {
					return fmt.Errorf("%w (use --force to overwrite)", err)
				}
				return err
			}
			fmt.Fprintf(e.stdout, "wrote key %s to %s (scheme %s, tokenizer %s)\n", key.ID(), c.String("out"), scheme, key.Tokenizer)
			return nil
		},
	}
}

func versionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version of tracemark and of its watermark spec",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(e.stdout, "tracemark %s (watermark PRF %s, key file version %d)\n", version(), watermark.PRFVersion, watermark.KeyFileVersion)
			return nil
		},
	}
}
