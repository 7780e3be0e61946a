package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

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
			&cli.StringFlag{Name: "engine-config", Usage: "with an engine scheme (vllm-..., synthid), also write the engine's watermark configuration to `FILE` (mode 0600; it holds the key)"},
			&cli.BoolFlag{Name: "force", Usage: "overwrite existing files"},
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
			var engineConfig []byte
			key, err := watermark.GenerateKeyFor(scheme, tok.Name())
			if err != nil {
				return err
			}
			key.TokenizerSHA256 = tokenize.FileSHA256(tok)
			if p := c.String("engine-config"); p != "" {
				if looksLikeKeyMaterial(p) {
					return errKeyMaterial("--engine-config")
				}
				if _, ok := scheme.(watermark.EngineConfig); !ok {
					return fmt.Errorf("--engine-config: scheme %s is not an engine scheme (use --scheme vllm-gumbel, vllm-dual-gumbel, vllm-sbw or synthid)", scheme)
				}
				if _, err := os.Lstat(p); err == nil && !c.Bool("force") {
					return fmt.Errorf("write %s: file exists (use --force to overwrite)", p)
				}
				if sc, ok := scheme.(watermark.SynthIDConfig); ok {
					engineConfig, err = watermark.SynthIDEngineConfig(key, sc)
				} else {
					engineConfig, err = watermark.VLLMConfigJSON(key)
				}
				if err != nil {
					return fmt.Errorf("--engine-config: %w", err)
				}
			}
			if err := key.WriteKeyFile(c.String("out"), c.Bool("force")); err != nil {
				if errors.Is(err, watermark.ErrKeyExists) {
					return fmt.Errorf("%w (use --force to overwrite)", err)
				}
				return err
			}
			if engineConfig != nil {
				if err := writeSecretFile(c.String("engine-config"), engineConfig, c.Bool("force")); err != nil {
					return err
				}
				use := "pass its contents to vllm serve --watermark-config"
				if _, ok := scheme.(watermark.SynthIDConfig); ok {
					use = "load it with transformers' SynthIDTextWatermarkingConfig(**json.load(f))"
				}
				fmt.Fprintf(e.stdout, "wrote the engine's watermark configuration to %s (%s)\n", c.String("engine-config"), use)
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

// writeSecretFile writes data to path with mode 0600, refusing to replace
// an existing file unless overwrite is set (then it is replaced, never
// followed if it is a symbolic link).
func writeSecretFile(path string, data []byte, overwrite bool) error {
	if overwrite {
		if st, err := os.Lstat(path); err == nil && !st.IsDir() {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write %s: file exists (use --force to overwrite)", path)
		}
		return fmt.Errorf("write engine config: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func keyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage key files",
		Subcommands: []*cli.Command{{
			Name:      "import",
			Usage:     "read a serving engine's watermark configuration (vLLM's --watermark-config JSON, or transformers' SynthIDTextWatermarkingConfig JSON) from a file or standard input into a key file (mode 0600)",
			UsageText: "tracemark key import --out KEYFILE [--tokenizer NAME] [--synthid-impl IMPL] [--force] CONFIGFILE|-",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "key file to write (required)", Required: true},
				&cli.StringFlag{Name: "tokenizer", Value: tokenize.Default, Usage: "tokenizer `NAME` of the served model"},
				&cli.StringFlag{Name: "synthid-impl", Value: watermark.SynthIDTransformers, Usage: "for a SynthID configuration: `IMPL` that serves it, transformers or deepmind (google-deepmind/synthid-text)"},
				&cli.BoolFlag{Name: "force", Usage: "overwrite an existing key file"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return fmt.Errorf("key import takes one configuration file, or - for standard input (never the configuration itself)")
				}
				src := c.Args().First()
				if looksLikeKeyMaterial(src) || looksLikeConfig(src) {
					return fmt.Errorf("key import takes a file path or -, but the argument looks like a configuration (not shown); pass it in a file or on standard input")
				}
				if looksLikeKeyMaterial(c.String("out")) {
					return errKeyMaterial("--out")
				}
				// The key records the tokenizer's name (a tokenizer.json
				// by its registry name or hash, not its path) and file hash.
				tok, err := loadTokenizer(e, c.String("tokenizer"))
				if err != nil {
					return err
				}
				data, err := readConfig(e, src)
				if err != nil {
					return err
				}
				now := time.Now().UTC().Truncate(time.Second)
				var key *watermark.Key
				if isSynthIDConfig(data) {
					key, _, err = watermark.ImportSynthIDConfig(data, c.String("synthid-impl"), tok.Name(), now)
				} else {
					key, err = watermark.ParseVLLMConfig(data, tok.Name(), now)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", displayName(src), err)
				}
				key.TokenizerSHA256 = tokenize.FileSHA256(tok)
				if err := key.WriteKeyFile(c.String("out"), c.Bool("force")); err != nil {
					if errors.Is(err, watermark.ErrKeyExists) {
						return fmt.Errorf("%w (use --force to overwrite)", err)
					}
					return err
				}
				fmt.Fprintf(e.stdout, "wrote key %s to %s (scheme %s, tokenizer %s)\n", key.ID(), c.String("out"), key.Scheme, key.Tokenizer)
				return nil
			},
		}},
	}
}

// isSynthIDConfig reports whether an engine configuration is SynthID's (a
// JSON object with "keys", or a generation config with
// "watermarking_config") rather than vLLM's.
func isSynthIDConfig(data []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	_, keys := m["keys"]
	_, nested := m["watermarking_config"]
	return keys || nested
}

// looksLikeConfig reports whether an argument is JSON rather than a path.
func looksLikeConfig(s string) bool { return strings.ContainsAny(s, "{}:\"") }

func displayName(src string) string {
	if src == "-" {
		return "<stdin>"
	}
	return src
}

// readConfig reads an engine configuration of at most
// watermark.MaxEngineConfigSize bytes from a regular file or standard input.
func readConfig(e *env, src string) ([]byte, error) {
	var r io.Reader = e.stdin
	if src != "-" {
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("read engine config: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("read engine config %s: not a regular file", src)
		}
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("read engine config: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, watermark.MaxEngineConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read engine config %s: %w", displayName(src), err)
	}
	if len(data) > watermark.MaxEngineConfigSize {
		return nil, fmt.Errorf("read engine config %s: more than %d bytes", displayName(src), watermark.MaxEngineConfigSize)
	}
	return data, nil
}
