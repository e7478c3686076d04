package deploy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/internal/testlog"
	"github.com/purgebus/purgebus/internal/testproc"
)

// moduleRoot is the module's root, relative to this package's directory,
// where go test runs.
const moduleRoot = ".."

// commands are the consumer and purge binaries, built once per test run
// into a directory that TestMain removes.
var commands struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if commands.dir != "" {
		os.RemoveAll(commands.dir)
	}
	os.Exit(code)
}

// binary returns the path of cmd/<name>, built from this tree.
func binary(t *testing.T, name string) string {
	t.Helper()
	commands.once.Do(func() {
		commands.dir, commands.err = os.MkdirTemp("", "purgebus-deploy-")
		if commands.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", commands.dir+"/", "./cmd/consumer", "./cmd/purge")
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			commands.err = fmt.Errorf("go build ./cmd/consumer ./cmd/purge: %v\n%s", err, out)
		}
	})
	if commands.err != nil {
		t.Fatal(commands.err)
	}
	return filepath.Join(commands.dir, name)
}

// sandbox is a consumer running with --sandbox on free loopback ports.
type sandbox struct {
	natsURL string
	httpURL string
	log     *testlog.Buffer
}

// startSandbox runs the consumer binary with --sandbox until the test
// ends, and waits until /readyz answers 200.
func startSandbox(t *testing.T) *sandbox {
	t.Helper()
	natsAddr, httpAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
	s := &sandbox{natsURL: "nats://" + natsAddr, httpURL: "http://" + httpAddr, log: &testlog.Buffer{}}
	cmd := exec.Command(binary(t, "consumer"), "--sandbox", "--data-dir", t.TempDir(),
		"--nats-listen", natsAddr, "--http-addr", httpAddr)
	cmd.Env = testproc.Env()
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("consumer log:\n%s", s.log.String())
		}
	})
	waitStatus(t, s.httpURL+"/readyz", http.StatusOK, 60*time.Second)
	return s
}

// waitStatus polls url until it answers want, or fails the test.
func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s did not answer %d within %v; last: %s", url, want, timeout, last)
}

// get returns the body of a 200 answer to GET url.
func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body
}

// purgeOne publishes one content-changed event (two URLs and a tag) to
// the NATS server at natsURL, as any publisher outside the consumer
// would, and returns its result.
func purgeOne(t *testing.T, natsURL string) events.PurgeResult {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Name("purgebus-deploy-test"))
	if err != nil {
		t.Fatalf("connect %s: %v", natsURL, err)
	}
	defer nc.Close()
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.deploytest"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := pub.PurgeAndWait(ctx, &events.ContentChanged{
		URLs:   []string{"https://www.example.com/deploy/a", "https://www.example.com/deploy/b?x=1"},
		Tags:   []string{"deploy-test"},
		Source: "deploy-test",
	})
	if err != nil {
		t.Fatalf("purge one event: %v", err)
	}
	if res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("event outcome %q, want succeeded: %+v", res.Outcome, res)
	}
	return res
}
