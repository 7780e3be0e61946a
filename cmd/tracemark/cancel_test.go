package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run the CLI as a separate process: the test binary
// itself, with TRACEMARK_TEST_MAIN=1, is the tracemark command.
func TestMain(m *testing.M) {
	if os.Getenv("TRACEMARK_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// cancelWait is how long a test waits for a cancelled command to end: far
// longer than it takes, so the test fails only on a command that hangs.
const cancelWait = 10 * time.Second

// stdinCommands read standard input; each is given a pipe that never
// delivers.
func stdinCommands(key string) map[string][]string {
	return map[string][]string{
		"detect":          {"detect", "--key", key, "-"},
		"detect-ids":      {"detect", "--key", key, "--ids", "-"},
		"scan":            {"scan", "--key", key, "-"},
		"scan-jsonl":      {"scan", "--key", key, "--format", "jsonl", "-"},
		"scan-files-from": {"scan", "--key", key, "--files-from", "-"},
		"tokenize":        {"tokenize", "-"},
	}
}

// readEntered says (closing entered) when its first Read begins.
type readEntered struct {
	r       *os.File
	entered chan struct{}
	once    sync.Once
}

func (r *readEntered) Read(p []byte) (int, error) {
	r.once.Do(func() { close(r.entered) })
	return r.r.Read(p)
}

// A command reading a standard input that never delivers ends when its
// context is cancelled (as SIGINT and SIGTERM do), with exit status 2 and
// the cancellation as its error.
func TestStdinThatNeverDeliversIsCancelled(t *testing.T) {
	key, _ := newKey(t)
	for name, args := range stdinCommands(key) {
		t.Run(name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			defer pw.Close()
			ctx, cancel := context.WithCancel(context.Background())
			stdin := &readEntered{r: pr, entered: make(chan struct{})}
			go func() { <-stdin.entered; cancel() }() // once the command waits for input
			var out, errb bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, append([]string{"tracemark"}, args...), stdin, &out, &errb) }()
			select {
			case code := <-done:
				if code != exitError || !strings.Contains(errb.String(), "context canceled") {
					t.Fatalf("exit %d, stderr %q: want exit 2 naming the cancellation", code, errb.String())
				}
			case <-time.After(cancelWait):
				t.Fatalf("still reading standard input %v after the cancellation", cancelWait)
			}
		})
	}
}

// blockedInPipeRead reports whether one of pid's threads sleeps in a pipe
// read (Linux: /proc/PID/task/*/wchan).
func blockedInPipeRead(pid int) bool {
	tasks, _ := filepath.Glob(filepath.Join("/proc", itoa(pid), "task", "*", "wchan"))
	for _, p := range tasks {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "pipe_read") {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// The tracemark process, its standard input a pipe that is never written
// (so its fd 0 is a blocking pipe, as in a shell pipeline), ends on
// SIGTERM and on SIGINT with exit status 2 and a message.
func TestSignalEndsABlockedStdinRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("waits for the read to block through /proc")
	}
	key, _ := newKey(t)
	cmds := stdinCommands(key)
	for _, tc := range []struct {
		cmd string
		sig syscall.Signal
	}{{"detect", syscall.SIGTERM}, {"scan", syscall.SIGTERM}, {"scan-files-from", syscall.SIGINT}} {
		t.Run(tc.cmd+"-"+tc.sig.String(), func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd := exec.Command(os.Args[0], cmds[tc.cmd]...)
			cmd.Env = append(os.Environ(), "TRACEMARK_TEST_MAIN=1")
			cmd.Stdin = pr
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pr.Close()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Signal once the process is blocked reading the pipe: by
			// then it has installed its signal handling.
			deadline := time.Now().Add(cancelWait)
			for !blockedInPipeRead(cmd.Process.Pid) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the process never blocked reading its standard input; stderr %q", errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			cmd.Process.Signal(tc.sig)
			select {
			case err := <-exited:
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != exitError || !strings.Contains(errb.String(), "context canceled") {
					t.Fatalf("wait: %v, stderr %q: want exit status 2 naming the cancellation", err, errb.String())
				}
			case <-time.After(cancelWait):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("still running %v after %v", cancelWait, tc.sig)
			}
		})
	}
}
