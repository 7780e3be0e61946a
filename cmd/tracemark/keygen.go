package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tracemark/tracemark/tokenize"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

func keygenCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make a new secret watermark key file (mode 0600)",
		UsageText: "tracemark keygen --out KEYFILE [--scheme SPEC] [--tokenizer NAME] [--engine-config FILE] [--force]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "key file to write (required; the secret is never printed)", Required: true},
			&cli.StringFlag{Name: "scheme", Value: watermark.DefaultSpec, Usage: "default scheme `SPEC` stored with the key"},
			&cli.StringFlag{Name: "tokenizer", Value: tokenize.Default, Usage: "tokenizer `NAME` of the model whose token IDs are marked"},
			&cli.StringFlag{Name: "engine-config", Usage: "also write the serving engine's configuration with the new key to `FILE` (mode 0600; synthid: transformers' SynthIDTextWatermarkingConfig JSON)"},
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
			if _, err := tokenize.Get(c.String("tokenizer")); err != nil {
				return err
			}
			if looksLikeKeyMaterial(c.String("out")) {
				return errKeyMaterial("--out")
			}
			if p := c.String("engine-config"); p != "" {
				if looksLikeKeyMaterial(p) {
					return errKeyMaterial("--engine-config")
				}
				if _, err := os.Stat(p); err == nil && !c.Bool("force") {
					return fmt.Errorf("%s exists (use --force to overwrite)", p)
				}
			}
			var key *watermark.Key
			if ec, ok := scheme.(watermark.EngineConfig); ok {
				// An engine scheme is keyed by the engine's own integers.
				key, err = watermark.GenerateEngineKey(ec.EngineKeyWords(), scheme, c.String("tokenizer"))
			} else {
				key, err = watermark.GenerateKey(scheme, c.String("tokenizer"))
			}
			if err != nil {
				return err
			}
			var engineConfig []byte
			if p := c.String("engine-config"); p != "" {
				sc, ok := scheme.(watermark.SynthIDConfig)
				if !ok {
					return fmt.Errorf("--engine-config: scheme %s has no engine configuration file", scheme)
				}
				if engineConfig, err = watermark.SynthIDEngineConfig(key, sc); err != nil {
					return err
				}
			}
			if err := key.WriteKeyFile(c.String("out"), c.Bool("force")); err != nil {
				if errors.Is(err, watermark.ErrKeyExists) {
					return fmt.Errorf("%w (use --force to overwrite)", err)
				}
				return err
			}
			fmt.Fprintf(e.stdout, "wrote key %s to %s (scheme %s, tokenizer %s)\n", key.ID(), c.String("out"), scheme, key.Tokenizer)
			if engineConfig != nil {
				if err := writeSecretFile(c.String("engine-config"), engineConfig, c.Bool("force")); err != nil {
					return fmt.Errorf("engine configuration: %w", err)
				}
				fmt.Fprintf(e.stdout, "wrote the engine configuration for key %s to %s (it holds the secret)\n", key.ID(), c.String("engine-config"))
			}
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

// writeSecretFile writes data to a new file of mode 0600 (replacing an
// existing one only with force).
func writeSecretFile(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists (use --force to overwrite)", path)
		}
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
