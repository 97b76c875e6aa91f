package abuse_test

// The attacks whose refusal is a bound rather than a status: a legacy file
// holding one 256 MiB line, links out of the harvester's tree, 200 distinct
// replay sources, clients that never finish their headers or body, and a
// look for the embedded etcd from inside the all-in-one's network namespace.
// Each answers "bounded" (or the status it is cut off with) only when the
// bound held, with the figures in the message.

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/hindsight-dev/hindsight/e2e/harness"
	"github.com/hindsight-dev/hindsight/internal/auth"
)

// hostFiles is what the all-in-one finds under /h (bind-mounted read-only):
// a legacy tree (/h/legacy) and the harvester's inbox (/h/inbox, its
// --watch) with links to /h/secret.
type hostFiles struct {
	dir                   string
	control, secret, tail string // markers: the inbox's own file, the links' targets, the legacy file's second line
}

const (
	// longLine is the legacy file's first line: 256 MiB, gzipped to ~250 KB.
	longLine = 256 << 20
	// lineCap is the legacy reader's line cap (source.MaxLineBytes).
	lineCap = 256 << 10
)

func writeHostFiles(t *testing.T, day time.Time) *hostFiles {
	t.Helper()
	tag := strings.ToLower(auth.NewToken()[4:14])
	tag = regexp.MustCompile(`[^a-z0-9]`).ReplaceAllString(tag, "z")
	h := &hostFiles{dir: harness.HostDir(t, "abuse"), control: "harvestcontrol" + tag, secret: "secretmarker" + tag, tail: "legacytail" + tag}
	lines := func(marker string) string {
		var b strings.Builder
		for i := range 40 { // beyond the harvester's 1 KiB fingerprint; JSON, as dataset app parses
			fmt.Fprintf(&b, `{"message":"%s line %02d of a file the harvester may or may not read"}`+"\n", marker, i)
		}
		return b.String()
	}
	write := func(rel, content string) {
		p := filepath.Join(h.dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret/token.log", lines(h.secret))
	write("secret/secret.log", lines(h.secret))
	write("inbox/app/control.log", lines(h.control))
	for link, target := range map[string]string{
		"inbox/app/leak.log": "../../secret/token.log", // a file link
		"inbox/app/linked":   "../../secret",           // a directory link, matched by app/*/*.log
		"inbox/stolen":       "../secret",              // a dataset folder that is a link
	} {
		if err := os.Symlink(target, filepath.Join(h.dir, link)); err != nil {
			t.Fatal(err)
		}
	}

	p := filepath.Join(h.dir, "legacy", "app", day.Format("2006/01/02"), "long.gz")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	chunk := []byte(strings.Repeat("x", 1<<20))
	for range longLine / len(chunk) {
		if _, err := gz.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(gz, "\n%s after the long line\n", h.tail)
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err == nil {
		t.Logf("legacy file: %d bytes of gzip holding a %d MiB line", st.Size(), longLine>>20)
	}
	return h
}

// request configures the all-in-one to read the host files.
func (h *hostFiles) request(req *testcontainers.ContainerRequest) {
	req.Cmd = append(req.Cmd, "--watch=/h/inbox", "--replay.legacy-url=file:///h/legacy")
	req.HostConfigModifier = func(hc *container.HostConfig) { hc.Binds = append(hc.Binds, h.dir+":/h:ro") }
}

// metric reads one unlabelled sample from the admin port's /metrics.
func metric(t *testing.T, admin, token, name string) float64 {
	t.Helper()
	o := rest(t, "GET", admin+"/metrics", token, "")
	if o.code != "200" {
		t.Fatalf("/metrics: %s %.200s", o.code, o.msg)
	}
	for _, l := range strings.Split(o.msg, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// searchTotal is a search's total and its events' messages.
func searchTotal(t *testing.T, base, token, body string) (int, []string, string) {
	t.Helper()
	o := rest(t, "POST", base+"/v1/search", token, body)
	var r struct {
		Total  string `json:"total"`
		Events []struct {
			Message string `json:"message"`
		} `json:"events"`
	}
	if o.code != "200" || json.Unmarshal([]byte(o.msg), &r) != nil {
		return -1, nil, fmt.Sprintf("%s %.300s", o.code, o.msg)
	}
	n, _ := strconv.Atoi(r.Total)
	var msgs []string
	for _, e := range r.Events {
		msgs = append(msgs, e.Message)
	}
	return n, msgs, ""
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// longLineReplay replays the legacy file with the 256 MiB line: the line must
// come out capped (and the next line read), the process' heap must not grow
// by anything near the line, and the replay is deleted again.
func longLineReplay(tg *target, h *hostFiles, alice, admin string, day time.Time) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		sysBefore := metric(t, tg.admin, admin, "go_memstats_heap_sys_bytes")
		body := fmt.Sprintf(`{"name":"longline","datasets":["app"],"from":%q,"to":%q,"source":{"kind":"KIND_LEGACY_TREE"}}`,
			day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339))
		if o := rest(t, "POST", tg.rest+"/v1/replays", alice, body); o.code != "200" {
			return outcome{code: "create " + o.code, msg: o.msg}
		}
		defer func() {
			rest(t, "DELETE", tg.rest+"/v1/replays/longline", alice, "")
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) && rest(t, "GET", tg.rest+"/v1/replays/longline", alice, "").code != "404" {
				time.Sleep(500 * time.Millisecond)
			}
		}()
		var peak float64
		state := ""
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			peak = max(peak, metric(t, tg.admin, admin, "go_memstats_heap_inuse_bytes"))
			var r struct {
				State string `json:"state"`
			}
			o := rest(t, "GET", tg.rest+"/v1/replays/longline", alice, "")
			_ = json.Unmarshal([]byte(o.msg), &r)
			if state = r.State; state == "STATE_READY" || state == "STATE_FAILED" {
				break
			}
		}
		growth := metric(t, tg.admin, admin, "go_memstats_heap_sys_bytes") - sysBefore
		n, msgs, raw := searchTotal(t, tg.rest, alice, `{"replay":"longline","pageSize":5}`)
		longest, tail := 0, false
		for _, m := range msgs {
			longest = max(longest, len(m))
			tail = tail || strings.Contains(m, h.tail)
		}
		figures := fmt.Sprintf("state %s, %d events, longest message %d bytes, the next line read: %v; heap in use peaked at %s, heap obtained from the OS grew %s (the line is %s) %s",
			state, n, longest, tail, mib(peak), mib(growth), mib(longLine), raw)
		t.Logf("long legacy line: %s", figures)
		if state == "STATE_READY" && n == 2 && longest <= lineCap && tail && growth < longLine/2 && peak < longLine {
			return outcome{code: "bounded", msg: figures}
		}
		return outcome{code: "unbounded", msg: figures}
	}
}

// distinctSources estimates 200 replays, each naming a source of its own
// (another path template): the open sources stay within the cache's 16.
func distinctSources(tg *target, alice, admin string, day time.Time) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		failed := 0
		last := ""
		for i := range 200 {
			body := fmt.Sprintf(`{"name":"estimate","datasets":["app"],"from":%q,"to":%q,"source":{"kind":"KIND_LEGACY_TREE","pathTemplate":"{dataset}/{yyyy}/{mm}/{dd}/e%03d-*.gz"}}`,
				day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339), i)
			if o := rest(t, "POST", tg.rest+"/v1/replays:estimate", alice, body); o.code != "200" {
				failed++
				last = o.code + " " + o.msg
			}
		}
		open := metric(t, tg.admin, admin, "hindsight_replay_sources_open")
		figures := fmt.Sprintf("200 estimates with distinct sources, %d failed (%.200s); sources open after: %.0f", failed, last, open)
		t.Logf("replay sources: %s", figures)
		if failed == 0 && open >= 1 && open <= 16 {
			return outcome{code: "bounded", msg: figures}
		}
		return outcome{code: "unbounded", msg: figures}
	}
}

// symlinkedSecrets: the inbox's own file is searchable, and after two more
// scans nothing of the links' targets is.
func symlinkedSecrets(tg *target, h *hostFiles, reader string) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		span := fmt.Sprintf(`"from":%q,"to":%q`, time.Now().Add(-24*time.Hour).UTC().Format(time.RFC3339), time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339))
		search := func(marker string) (int, string) {
			n, _, raw := searchTotal(t, tg.rest, reader, `{"query":"message:`+marker+`",`+span+`,"pageSize":1}`)
			return n, raw
		}
		var control int
		var raw string
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			if control, raw = search(h.control); control == 40 {
				break
			}
		}
		if control != 40 {
			return outcome{code: "harvester idle", msg: fmt.Sprintf("the inbox's own file: %d of 40 lines searchable %s", control, raw)}
		}
		time.Sleep(7 * time.Second) // two more inbox scans (every 3 s)
		secret, raw := search(h.secret)
		figures := fmt.Sprintf("inbox file: %d lines searchable; the links' target (a file link, a directory link, a dataset folder link): %d %s", control, secret, raw)
		t.Logf("harvester links: %s", figures)
		if secret == 0 {
			return outcome{code: "not followed", msg: figures}
		}
		return outcome{code: "followed", msg: figures}
	}
}

// othersServed checks that the gateway answers another client while an
// attack holds a connection.
func othersServed(t *testing.T, tg *target, reader string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(tg.rest + "/healthz")
	if err != nil {
		return err
	}
	r.Body.Close()
	if o := rest(t, "GET", tg.rest+"/v1/replays", reader, ""); o.code != "200" {
		return fmt.Errorf("list replays: %s", o.code)
	}
	return nil
}

// trickle writes a byte to conn every period until the returned stop is
// called or a write fails.
func trickle(conn net.Conn, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done) }
}

// slowHeaders sends a request's headers a byte a second and never ends them:
// the gateway must close the connection (ReadHeaderTimeout, 10 s) while
// serving others.
func slowHeaders(tg *target, reader string) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		conn, began, served, done := slowClient(t, tg, reader, "GET /v1/replays HTTP/1.1\r\nHost: x\r\nX-Slow: ", time.Second)
		defer done()
		_ = conn.SetReadDeadline(time.Now().Add(40 * time.Second))
		n, err := conn.Read(make([]byte, 1))
		took := time.Since(began).Round(100 * time.Millisecond)
		figures := fmt.Sprintf("read %d bytes, %v, after %v; others served meanwhile: %v", n, err, took, served)
		t.Logf("slow headers: %s", figures)
		if n == 0 && err == io.EOF && took >= 9*time.Second && took < 25*time.Second && served == nil {
			return outcome{code: "closed", msg: figures}
		}
		return outcome{code: "held", msg: figures}
	}
}

// slowClient connects to the gateway, sends start, then a byte every period
// until done is called, and checks that others are served meanwhile.
func slowClient(t *testing.T, tg *target, reader, start string, every time.Duration) (conn net.Conn, began time.Time, served error, done func()) {
	u, _ := url.Parse(tg.rest)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	fmt.Fprint(conn, start)
	stop := trickle(conn, every)
	time.Sleep(2 * time.Second)
	return conn, began, othersServed(t, tg, reader), func() { stop(); conn.Close() }
}

// slowBody sends a request whose body never ends (10 of 1000 bytes, then a
// byte every 5 s): the gateway must answer once its body deadline (60 s)
// passes, with or without a token, and serve others meanwhile.
func slowBody(tg *target, token, reader string) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		hdr := ""
		if token != "" {
			hdr = "Authorization: Bearer " + token + "\r\n"
		}
		conn, began, served, done := slowClient(t, tg, reader,
			"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+hdr+"Content-Length: 1000\r\n\r\n{\"query\":\"", 5*time.Second)
		defer done()
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		took := time.Since(began).Round(100 * time.Millisecond)
		if err != nil {
			return outcome{code: "held", msg: fmt.Sprintf("no answer after %v: %v", took, err)}
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		figures := fmt.Sprintf("%s after %v (%.120s); others served meanwhile: %v", resp.Status, took, b, served)
		t.Logf("slow body: %s", figures)
		if took < 55*time.Second || took > 80*time.Second || served != nil {
			return outcome{code: "held", msg: figures}
		}
		return outcome{code: strconv.Itoa(resp.StatusCode), msg: figures}
	}
}

// listeningPorts is the shell that writes to /tmp/ports every TCP port
// listening in the network namespace it runs in (from /proc, no tools).
const listeningPorts = `
for f in /proc/net/tcp /proc/net/tcp6; do
  tail -n +2 "$f" | while read -r _ local _ st _; do
    [ "$st" = 0A ] && echo $((16#${local##*:}))
  done
done | sort -un > /tmp/ports
`

// probeNamespace runs script (after listeningPorts) in a container sharing
// the all-in-one's network namespace, where its loopback ports are, and
// returns what it printed.
func probeNamespace(t *testing.T, tg *target, script string) string {
	p := harness.Start(t, nil, nil, testcontainers.ContainerRequest{
		Image:      harness.BaseImage,
		Entrypoint: []string{"bash", "-c", listeningPorts + script},
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + tg.containers[0].GetContainerID())
		},
		WaitingFor: wait.ForExit().WithExitTimeout(2 * time.Minute),
	})
	return harness.Logs(t, p)
}

// etcdProbe lists, from a container in the all-in-one's network namespace,
// every TCP port listening there and what each answers to etcd's GET
// /version (served on etcd's client and peer ports alike), and tries the old
// client port 2389.
const etcdProbe = `
for p in $(cat /tmp/ports) 2389; do
  answer=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p && printf 'GET /version HTTP/1.0\r\nHost: x\r\n\r\n' >&3 && head -c 300 <&3" 2>&1 | tr -d '\r' | tr '\n' ' ')
  echo "port $p: $answer"
done
echo probe-done
`

// noEtcdPort runs etcdProbe next to the all-in-one: no port may answer as
// etcd (whose client API has no authentication).
func noEtcdPort(tg *target) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		logs := probeNamespace(t, tg, etcdProbe)
		ports, etcd := 0, []string{}
		for _, l := range strings.Split(logs, "\n") {
			if !strings.HasPrefix(l, "port ") {
				continue
			}
			if !strings.HasPrefix(l, "port 2389:") {
				ports++
			}
			if strings.Contains(l, "etcdserver") || strings.Contains(l, "etcdcluster") {
				etcd = append(etcd, l)
			}
		}
		t.Logf("ports listening in the all-in-one's namespace:\n%s", logs)
		figures := fmt.Sprintf("%d listening ports probed, %d answer as etcd %q", ports, len(etcd), etcd)
		// The gRPC, admin and REST ports at least, and the probe finished.
		if strings.Contains(logs, "probe-done") && ports >= 3 && len(etcd) == 0 {
			return outcome{code: "no etcd port", msg: figures}
		}
		return outcome{code: "etcd reachable", msg: figures + "\n" + logs}
	}
}

// kafkaProbe asks every TCP port listening in the all-in-one's network
// namespace, as a Kafka client without credentials would: a SaslHandshake
// for a mechanism no broker has (a Kafka-protocol broker answers with the
// ones it has: that finds the buffer), then, on a new connection, Metadata
// v1 for all topics (a broker that lets anyone in lists the dataset topics,
// logs.*).
const kafkaProbe = `
ask() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf '$2' >&3 && timeout 1 cat <&3" 2>/dev/null | tr -c '[:print:]' '.'; }
for p in $(cat /tmp/ports); do
  echo "port $p handshake: $(ask $p '\x00\x00\x00\x12\x00\x11\x00\x01\x00\x00\x00\x02\x00\x01x\x00\x05NONE!')"
  echo "port $p metadata: $(ask $p '\x00\x00\x00\x0f\x00\x03\x00\x01\x00\x00\x00\x01\x00\x01x\xff\xff\xff\xff')"
done
echo probe-done
`

// bufferNeedsCredentials runs kafkaProbe next to the all-in-one: its
// embedded Kafka-protocol buffer must be found and must list no topic to a
// client without its SCRAM secret.
func bufferNeedsCredentials(tg *target) func(*testing.T) outcome {
	return func(t *testing.T) outcome {
		logs := probeNamespace(t, tg, kafkaProbe)
		t.Logf("Kafka-protocol probe in the all-in-one's namespace:\n%s", logs)
		var brokers, open []string
		for _, l := range strings.Split(logs, "\n") {
			port, answer, ok := strings.Cut(strings.TrimPrefix(l, "port "), " ")
			switch {
			case !ok:
			case strings.HasPrefix(answer, "handshake:") && strings.Contains(answer, "SCRAM-SHA-256"):
				brokers = append(brokers, port)
			case strings.HasPrefix(answer, "metadata:") && strings.Contains(answer, "logs."):
				open = append(open, port)
			}
		}
		figures := fmt.Sprintf("Kafka-protocol ports %v; listing topics without credentials: %v", brokers, open)
		if !strings.Contains(logs, "probe-done") || len(brokers) == 0 {
			return outcome{code: "buffer not found", msg: figures + "\n" + logs}
		}
		if len(open) > 0 {
			return outcome{code: "open", msg: figures}
		}
		return outcome{code: "authenticated", msg: figures}
	}
}

// boundAttacks are the attacks above on the all-in-one.
func boundAttacks(tg *target, h *hostFiles, day time.Time) []attack {
	return []attack{
		{"a legacy .gz of ~250 KB holding one 256 MiB line", func(t *testing.T) outcome {
			return longLineReplay(tg, h, harness.Token(t, harness.Alice), harness.Token(t, harness.Admin), day)(t)
		}, "bounded", ""},
		{"200 EstimateReplay calls, each with a source of its own", func(t *testing.T) outcome {
			return distinctSources(tg, harness.Token(t, harness.Alice), harness.Token(t, harness.Admin), day)(t)
		}, "bounded", ""},
		{"links in the harvester's inbox to a secret outside it (file, directory, dataset folder)", func(t *testing.T) outcome {
			return symlinkedSecrets(tg, h, harness.Token(t, harness.Reader))(t)
		}, "not followed", ""},
		{"slowloris: headers a byte a second, never finished", func(t *testing.T) outcome {
			return slowHeaders(tg, harness.Token(t, harness.Reader))(t)
		}, "closed", ""},
		{"slowloris: a body that never completes", func(t *testing.T) outcome {
			return slowBody(tg, harness.Token(t, harness.Reader), harness.Token(t, harness.Reader))(t)
		}, "408", ""},
		{"slowloris: a body that never completes, without a token", func(t *testing.T) outcome {
			return slowBody(tg, "", harness.Token(t, harness.Reader))(t)
		}, "401", ""},
		{"the embedded etcd from inside the all-in-one's network namespace", func(t *testing.T) outcome {
			return noEtcdPort(tg)(t)
		}, "no etcd port", ""},
		{"the embedded Kafka-protocol buffer without credentials, from inside the all-in-one's namespace", func(t *testing.T) outcome {
			return bufferNeedsCredentials(tg)(t)
		}, "authenticated", ""},
	}
}
