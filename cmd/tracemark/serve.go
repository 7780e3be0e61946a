package main

import (
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tracemark/tracemark/ngram"
	"github.com/tracemark/tracemark/serve"
	"github.com/tracemark/tracemark/serve/servelog"
	"github.com/tracemark/tracemark/watermark"
	"github.com/urfave/cli/v2"
)

// builtinServeName is the model ID the built-in n-gram model is served as.
const builtinServeName = "tracemark-ngram"

func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "OpenAI-compatible HTTP server: watermarked completions, per-customer fingerprints, served-output log",
		UsageText: "tracemark serve --log-dir DIR [--addr HOST:PORT] [--key KEYFILE | --no-watermark] [--credentials FILE]\n" +
			"    [--model-file MODEL [--model-name NAME]] [limits...]\n" +
			"tracemark serve customer add --credentials FILE --id ID [--trusted] [--rpm N] [--tpm N] [--payload HEX | --payload-bits N]\n\n" +
			"Serves /v1/chat/completions, /v1/completions, /v1/models and /healthz (docs/serve.md). Every\n" +
			"completion is logged to --log-dir before it is sent. SIGHUP reloads --credentials; SIGINT/SIGTERM\n" +
			"finish in-flight requests, close the log and exit.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen `HOST:PORT` (port 0: any free port; see --addr-file)"},
			&cli.StringFlag{Name: "addr-file", Usage: "write the bound address (host:port) to `FILE` once listening"},
			&cli.StringFlag{Name: "key", Aliases: []string{"k"}, Usage: "watermark key `FILE` (default: $TRACEMARK_KEY)"},
			&cli.StringFlag{Name: "scheme", Usage: "scheme `SPEC` (default: the key's)"},
			&cli.BoolFlag{Name: "no-watermark", Usage: "serve unwatermarked text (the whole server; e.g. a test's rival model)"},
			&cli.StringFlag{Name: "credentials", Usage: "credentials `FILE` (mode 0600; see 'serve customer add'); without it everyone is served as customer \"anonymous\""},
			&cli.StringFlag{Name: "log-dir", Usage: "served-output log `DIR` (zstd JSON lines, rotated by size)"},
			&cli.Int64Flag{Name: "log-max-bytes", Value: servelog.DefaultMaxFileBytes, Usage: "start a new log file after `N` uncompressed bytes"},
			&cli.StringFlag{Name: "model-file", Usage: "serve this n-gram model `FILE` (from 'ngram train') instead of the built-in model"},
			&cli.StringFlag{Name: "model-name", Usage: "model `NAME` clients ask for (default: " + builtinServeName + ", or the model file's base name)"},
			&cli.IntFlag{Name: "max-tokens", Value: 4096, Usage: "largest max_tokens a request may ask for"},
			&cli.IntFlag{Name: "default-max-tokens", Value: 256, Usage: "max_tokens of a chat request that gives none"},
			&cli.IntFlag{Name: "max-n", Value: 16, Usage: "largest n (choices per prompt)"},
			&cli.IntFlag{Name: "max-prompt-tokens", Value: 32768, Usage: "longest prompt, in tokens, after the chat template"},
			&cli.Int64Flag{Name: "max-body-bytes", Value: 4 << 20, Usage: "largest request body (larger: 413)"},
			&cli.IntFlag{Name: "max-concurrent", Usage: "generations at once (default: number of CPUs)"},
			&cli.IntFlag{Name: "max-queue", Value: 64, Usage: "requests waiting for a generation slot (more: 503; 0 or -1: no queue)"},
			&cli.DurationFlag{Name: "queue-timeout", Value: 10 * time.Second, Usage: "longest wait for a generation slot (then 503)"},
			&cli.DurationFlag{Name: "generation-timeout", Value: 60 * time.Second, Usage: "longest generation of one request (then 503)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 60 * time.Second, Usage: "on SIGINT/SIGTERM, how long in-flight requests may take"},
			&cli.IntFlag{Name: "rpm", Usage: "default requests per minute per customer (0: unlimited)"},
			&cli.IntFlag{Name: "tpm", Usage: "default tokens (prompt + max_tokens × n) per minute per customer (0: unlimited)"},
		},
		Subcommands: []*cli.Command{{
			Name:  "customer",
			Usage: "manage the credentials file",
			Subcommands: []*cli.Command{{
				Name:      "add",
				Usage:     "add a customer with a fresh random API key; prints the key once (only its SHA-256 is stored)",
				UsageText: "tracemark serve customer add --credentials FILE --id ID [--trusted] [--rpm N] [--tpm N] [--payload HEX | --payload-bits N]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "credentials", Required: true, Usage: "credentials `FILE` (created with mode 0600 if missing)"},
					&cli.StringFlag{Name: "id", Required: true, Usage: "customer `ID` (letters, digits, ._@:+-)"},
					&cli.BoolFlag{Name: "trusted", Usage: "may switch the watermark off per request (\"tracemark\": {\"watermark\": false})"},
					&cli.IntFlag{Name: "rpm", Usage: "requests per minute (0: server default, -1: unlimited)"},
					&cli.IntFlag{Name: "tpm", Usage: "tokens per minute (0: server default, -1: unlimited)"},
					&cli.IntFlag{Name: "payload-bits", Value: 32, Usage: "width of the random payload (the payload scheme's payload_bits)"},
					&cli.StringFlag{Name: "payload", Usage: "fingerprint `HEX` a payload scheme embeds for this customer (default: a random value of --payload-bits bits, far from the other customers')"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return fmt.Errorf("serve customer add takes no arguments (got %q)", c.Args().First())
					}
					key, entry, err := serve.AddCustomer(c.String("credentials"), serve.Customer{
						ID: c.String("id"), Trusted: c.Bool("trusted"), RequestsPerMinute: c.Int("rpm"), TokensPerMinute: c.Int("tpm"), Payload: c.String("payload")}, c.Int("payload-bits"))
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stderr, "tracemark: added customer %s (payload %s, trusted %v) to %s; the API key below is shown only now\n",
						entry.ID, entry.Payload, entry.Trusted, c.String("credentials"))
					_, err = fmt.Fprintln(e.stdout, key)
					return err
				},
			}},
		}},
		Action: func(c *cli.Context) error { return runServe(c, e) },
	}
}

func runServe(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments (got %q); see 'tracemark serve --help'", c.Args().First())
	}
	if c.String("log-dir") == "" {
		return fmt.Errorf("serve needs --log-dir DIR: every response is logged there before it is sent")
	}
	var scheme watermark.Scheme
	if !c.Bool("no-watermark") {
		key, err := loadKey(c, e, c.String("key"))
		if err != nil {
			return err
		}
		if key.Tokenizer != ngram.BuiltinTokenizer {
			return fmt.Errorf("key %s is for tokenizer %s; the n-gram models speak %s", key.ID(), key.Tokenizer, ngram.BuiltinTokenizer)
		}
		cfg := key.Scheme
		if s := c.String("scheme"); s != "" {
			if cfg, err = watermark.ParseSpec(s); err != nil {
				return err
			}
		}
		if scheme, err = watermark.NewScheme(key, cfg); err != nil {
			return err
		}
	}
	name := c.String("model-name")
	var model *ngram.Model
	var err error
	if path := c.String("model-file"); path != "" {
		if model, err = loadModelFile(path); err != nil {
			return err
		}
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
	} else {
		if model, err = loadBuiltin(c.Context, e); err != nil {
			return err
		}
		if name == "" {
			name = builtinServeName
		}
	}
	backend, err := serve.NewNgramBackend(name, model)
	if err != nil {
		return err
	}
	logw, err := servelog.Create(c.String("log-dir"), servelog.Options{MaxFileBytes: c.Int64("log-max-bytes")})
	if err != nil {
		return err
	}
	maxQueue := c.Int("max-queue")
	if maxQueue <= 0 {
		maxQueue = -1
	}
	srv, err := serve.New(serve.Config{
		Backends: []serve.Backend{backend}, Scheme: scheme, CredentialsPath: c.String("credentials"), Log: logw,
		Limits:           serve.Limits{MaxTokens: c.Int("max-tokens"), MaxN: c.Int("max-n"), MaxPromptTokens: c.Int("max-prompt-tokens")},
		DefaultMaxTokens: c.Int("default-max-tokens"), MaxBodyBytes: c.Int64("max-body-bytes"),
		MaxConcurrent: c.Int("max-concurrent"), MaxQueue: maxQueue,
		QueueTimeout: c.Duration("queue-timeout"), GenerationTimeout: c.Duration("generation-timeout"), ShutdownTimeout: c.Duration("shutdown-timeout"),
		RequestsPerMinute: c.Int("rpm"), TokensPerMinute: c.Int("tpm"),
		ErrorLog: log.New(e.stderr, "", log.LstdFlags),
	})
	if err != nil {
		logw.Close()
		return err
	}
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		logw.Close()
		return fmt.Errorf("serve: %w", err)
	}
	addr := ln.Addr().String()
	// SIGHUP is caught before --addr-file announces the server, so that
	// whoever waits for the file may send it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if f := c.String("addr-file"); f != "" {
		if err := os.WriteFile(f, []byte(addr+"\n"), 0o644); err != nil {
			ln.Close()
			logw.Close()
			return fmt.Errorf("serve: --addr-file: %w", err)
		}
	}
	go func() {
		for range hup {
			if err := srv.ReloadCredentials(); err != nil {
				fmt.Fprintf(e.stderr, "tracemark: SIGHUP: credentials not reloaded, the previous ones stay in force: %v\n", err)
			} else {
				fmt.Fprintf(e.stderr, "tracemark: SIGHUP: credentials reloaded\n")
			}
		}
	}()
	mark := "unwatermarked (--no-watermark)"
	if scheme != nil {
		mark = "watermark " + scheme.Spec() + " key " + scheme.KeyID()
	}
	fmt.Fprintf(e.stderr, "tracemark: serving %s at http://%s/v1 (%s; log %s)\n", name, addr, mark, c.String("log-dir"))
	err = srv.Serve(c.Context, ln)
	fmt.Fprintf(e.stderr, "tracemark: server stopped; %d responses logged\n", logw.Lines())
	return err
}
