//go:build deploy

package deploy_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/internal/testproc"
)

// maxImageBytes is the bound on the image's size.
const maxImageBytes = 40_000_000

// TestImage builds the top-level Dockerfile with Podman and runc, as
// deploy/image.sh does, on a machine that reaches no container registry:
// the Dockerfile's Go build image is a stand-in assembled from this
// machine's Go toolchain and tagged with the name the Dockerfile uses. It
// then runs the image in --sandbox mode and checks it from outside.
func TestImage(t *testing.T) {
	pm := newPodman(t)
	from := buildImageName(t, filepath.Join(moduleRoot, "Dockerfile"))
	pm.standIn(t, from)

	suffix := randomHex(t)
	image := "localhost/purgebus-test:" + suffix
	version, commit := "v0.0.0-test."+suffix, "c0ffee"+suffix
	begin := time.Now()
	build := exec.Command("bash", filepath.Join(moduleRoot, "deploy", "image.sh"),
		"--network", "host", "--pull=never",
		// The host's module and build caches: minutes, not more.
		"-v", goEnv(t, "GOMODCACHE")+":/go/pkg/mod",
		"-v", goEnv(t, "GOCACHE")+":/root/.cache/go-build")
	build.Env = append(pm.env(), "CONTAINER_ENGINE="+strings.Join(pm.cmd, " "),
		"IMAGE="+image, "VERSION="+version, "COMMIT="+commit)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("deploy/image.sh: %v\n%s", err, tail(out, 8000))
	}
	t.Logf("built %s in %v", image, time.Since(begin).Round(time.Second))
	t.Cleanup(func() {
		_, _ = pm.run(t, "rmi", "-f", image)
		// vfs keeps a full copy of every layer: the build stage's would
		// add up to gigabytes over many runs.
		_, _ = pm.run(t, "image", "prune", "-f")
	})

	t.Run("config", func(t *testing.T) {
		var inspect []struct {
			Size   int64
			Config struct {
				User         string
				Env          []string
				Entrypoint   []string
				ExposedPorts map[string]any
				Volumes      map[string]any
			}
		}
		if err := json.Unmarshal([]byte(pm.mustRun(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
			t.Fatalf("image inspect: %v", err)
		}
		img := inspect[0]
		t.Logf("image size %d bytes (%.1f MB)", img.Size, float64(img.Size)/1e6)
		if img.Size > maxImageBytes {
			t.Errorf("image is %d bytes, more than %d", img.Size, maxImageBytes)
		}
		if uid, _, _ := strings.Cut(img.Config.User, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("image runs as user %q, want a non-root user", img.Config.User)
		}
		if _, ok := img.Config.Volumes["/data"]; !ok {
			t.Errorf("volumes %v lack /data", img.Config.Volumes)
		}
		if _, ok := img.Config.ExposedPorts["9464/tcp"]; !ok {
			t.Errorf("exposed ports %v lack the metrics port 9464/tcp", img.Config.ExposedPorts)
		}
		for _, kv := range []string{"PURGEBUS_DATA_DIR=/data"} {
			if !slices.Contains(img.Config.Env, kv) {
				t.Errorf("environment %v lacks %s", img.Config.Env, kv)
			}
		}
	})

	t.Run("contents", func(t *testing.T) {
		// Nothing but the binaries (the time-zone data is embedded in
		// them), CA certificates and the user's entry: no shell, no
		// package manager.
		name := "purgebus-test-files-" + suffix
		pm.mustRun(t, "create", "--name", name, image)
		defer pm.run(t, "rm", "-f", "-v", name)
		export := exec.Command(pm.cmd[0], append(pm.cmd[1:], "export", name)...)
		export.Env = pm.env()
		list := exec.Command("tar", "-t")
		var err error
		if list.Stdin, err = export.StdoutPipe(); err != nil {
			t.Fatal(err)
		}
		out := &strings.Builder{}
		list.Stdout = out
		if err := list.Start(); err != nil {
			t.Fatal(err)
		}
		if err := export.Run(); err != nil {
			t.Fatalf("podman export: %v", err)
		}
		if err := list.Wait(); err != nil {
			t.Fatalf("tar -t: %v", err)
		}
		want := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt",
			"usr/local/bin/consumer", "usr/local/bin/purge"}
		// Mount points the engine itself adds to every container.
		engine := []string{"etc/hosts", "etc/hostname", "etc/resolv.conf", "run/.containerenv"}
		var files []string
		for line := range strings.Lines(out.String()) {
			f := strings.TrimPrefix(strings.TrimSpace(line), "./")
			if f != "" && !strings.HasSuffix(f, "/") && !slices.Contains(engine, f) {
				files = append(files, f)
			}
		}
		slices.Sort(files)
		if !slices.Equal(files, want) {
			t.Errorf("the image holds files %q, want exactly %q", files, want)
		}
	})

	t.Run("version", func(t *testing.T) {
		for _, prog := range []string{"consumer", "purge"} {
			out := pm.mustRun(t, "run", "--rm", "--network", "host", "--entrypoint", "/usr/local/bin/"+prog, image, "--version")
			want := fmt.Sprintf("%s %s (commit %s, go", prog, version, commit)
			if !strings.HasPrefix(out, want) {
				t.Errorf("%s --version printed %q, want it to start %q", prog, out, want)
			}
		}
	})

	t.Run("sandbox", func(t *testing.T) {
		natsAddr, httpAddr := testproc.FreeAddr(t), testproc.FreeAddr(t)
		name := "purgebus-test-run-" + suffix
		// /data is the image's own volume, owned by the image's user, as a
		// user's "docker run -v purgebus-data:/data" gets it.
		// TZ checks the time-zone data: the log's times carry India's
		// offset (no summer time) only if the binary found the zone. The
		// read-only root, no capabilities and no privilege escalation are
		// the Kubernetes examples' securityContext.
		pm.mustRun(t, "run", "-d", "--name", name, "--network", "host", "-e", "TZ=Asia/Kolkata",
			"--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", image,
			"--sandbox", "--nats-listen", natsAddr, "--http-addr", httpAddr)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("container log:\n%s", tail([]byte(pm.logs(t, name)), 8000))
			}
			_, _ = pm.run(t, "rm", "-f", "-v", "-t", "10", name)
		})
		waitStatus(t, "http://"+httpAddr+"/readyz", 200, 90*time.Second)
		waitStatus(t, "http://"+httpAddr+"/healthz", 200, 5*time.Second)

		pid := strings.TrimSpace(pm.mustRun(t, "inspect", "--format", "{{.State.Pid}}", name))
		uids := procUIDs(t, pid)
		for _, u := range uids {
			if u == 0 {
				t.Errorf("the consumer (pid %s) runs with uids %v; want no root", pid, uids)
				break
			}
		}
		t.Logf("the consumer runs with uids %v", uids)

		res := purgeOne(t, "nats://"+natsAddr)
		if len(res.Purges) == 0 || res.Purges[0].PurgeID == "" {
			t.Errorf("result has no purge ID: %+v", res)
		}
		// The image's purge CLI, against the consumer's embedded NATS.
		out := pm.mustRun(t, "run", "--rm", "--network", "host", "--entrypoint", "purge", image,
			"invalidate", "--nats-url", "nats://"+natsAddr, "--wait", "--timeout", "60s", "https://www.example.com/deploy/cli")
		if !strings.HasPrefix(out, "succeeded: event ") {
			t.Errorf("purge invalidate --wait from the image printed %q, want a succeeded result", out)
		}
		if logs := pm.logs(t, name); !strings.Contains(logs, "+05:30 level=") {
			t.Errorf("with TZ=Asia/Kolkata the log's times are not at +05:30: the time-zone data is missing\n%s", tail([]byte(logs), 2000))
		}
		// Results are counted once stored, a moment after a waiter may see them.
		finished := regexp.MustCompile(`(?m)^purgebus_events_finished_total\{outcome="succeeded"\} 2$`)
		if _, ok := scrapeUntil(t, "http://"+httpAddr+"/metrics", finished, 10*time.Second); !ok {
			t.Errorf("/metrics does not count the two events as succeeded")
		}
	})
}

// podman runs podman with the settings of ../shared/containers.md: vfs
// storage, runc, cgroupfs and no default ulimits, from a containers.conf
// of the test's own.
type podman struct {
	cmd  []string
	conf string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	path, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("podman is not installed (deploy/scripts/test.sh installs it: apt-get install podman runc busybox-static)")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal("runc is not installed (apt-get install runc)")
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	text := "[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return &podman{cmd: []string{path, "--storage-driver", "vfs", "--runtime", runc}, conf: conf}
}

func (p *podman) env() []string { return append(testproc.Env(), "CONTAINERS_CONF="+p.conf) }

func (p *podman) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(p.cmd[0], append(p.cmd[1:], args...)...)
	cmd.Env = p.env()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (p *podman) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// logs returns a container's output, its standard output and error
// together, as podman logs replays them on its own.
func (p *podman) logs(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(p.cmd[0], append(p.cmd[1:], "logs", name)...)
	cmd.Env = p.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("podman logs %s: %v", name, err)
	}
	return string(out)
}

// standInLabel records which toolchain a stand-in holds, so that one
// built from another toolchain is rebuilt.
const standInLabel = "purgebus.standin"

// standIn tags, as name, an image that stands in for the official Go
// image: this machine's Go toolchain under /usr/local/go, busybox as the
// shell and its tools, CA certificates, and the official image's
// environment (GOPATH /go, so the module cache is /go/pkg/mod).
func (p *podman) standIn(t *testing.T, name string) {
	t.Helper()
	goroot, gover := goEnv(t, "GOROOT"), goEnv(t, "GOVERSION")
	if out, err := p.run(t, "image", "inspect", "--format", "{{index .Labels \""+standInLabel+"\"}}", name); err == nil && strings.TrimSpace(out) == gover {
		t.Logf("reusing the stand-in %s (%s)", name, gover)
		return
	}
	begin := time.Now()
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	for _, d := range []string{"usr/local", "bin", "etc/ssl/certs", "root", "go/pkg/mod"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"cp", "-a", goroot, filepath.Join(root, "usr/local/go")},
		{"cp", "/etc/ssl/certs/ca-certificates.crt", filepath.Join(root, "etc/ssl/certs/")},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox is not installed (apt-get install busybox-static)")
	}
	if out, err := exec.Command("cp", bb, filepath.Join(root, "bin/busybox")).CombinedOutput(); err != nil {
		t.Fatalf("cp busybox: %v\n%s", err, out)
	}
	applets, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for a := range strings.FieldsSeq(string(applets)) {
		if a != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
				t.Fatal(err)
			}
		}
	}
	containerfile := filepath.Join(dir, "Containerfile")
	text := "FROM scratch\nCOPY . /\nENV PATH=/go/bin:/usr/local/go/bin:/bin GOPATH=/go GOTOOLCHAIN=local HOME=/root\n" +
		"LABEL " + standInLabel + "=" + gover + "\nWORKDIR /go\n"
	if err := os.WriteFile(containerfile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustRun(t, "build", "--pull=never", "--network", "host", "-t", name, "-f", containerfile, root)
	t.Logf("assembled the stand-in %s from %s (%s) in %v", name, goroot, gover, time.Since(begin).Round(time.Second))
}

// buildImageName returns the fully qualified name of the image that the
// Dockerfile's build stage starts FROM, with the default of each ARG
// before the first FROM substituted.
func buildImageName(t *testing.T, dockerfile string) string {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := map[string]string{}
	argRe := regexp.MustCompile(`(?i)^ARG\s+(\w+)=(\S+)$`)
	fromRe := regexp.MustCompile(`(?i)^FROM\s+(\S+)\s+AS\s+build$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := argRe.FindStringSubmatch(line); m != nil {
			args[m[1]] = m[2]
		}
		if m := fromRe.FindStringSubmatch(line); m != nil {
			name := os.Expand(m[1], func(k string) string { return args[k] })
			switch first, _, _ := strings.Cut(name, "/"); {
			case !strings.Contains(name, "/"):
				name = "docker.io/library/" + name
			case !strings.ContainsAny(first, ".:") && first != "localhost":
				name = "docker.io/" + name
			}
			return name
		}
	}
	t.Fatalf("%s has no build stage (FROM ... AS build)", dockerfile)
	return ""
}

// procUIDs returns the real, effective, saved and file-system user IDs of
// a process, read from the host's /proc.
func procUIDs(t *testing.T, pid string) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			var uids []int
			for f := range strings.FieldsSeq(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("/proc/%s/status: %q", pid, line)
				}
				uids = append(uids, n)
			}
			return uids
		}
	}
	t.Fatalf("/proc/%s/status has no Uid line", pid)
	return nil
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// tail is the end of a long output.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
