package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// natsCluster is a NATS cluster with JetStream, its servers in this
// process, each with a store of its own, routed to each other.
type natsCluster struct {
	t       testing.TB
	servers []*server.Server
	down    []bool
}

// startCluster starts n servers and waits until JetStream has a meta
// leader that every server follows.
func startCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	// A port chosen free may be taken by another test process before the
	// server listens on it; the server then never becomes ready. Then
	// the cluster starts again on other ports.
	for attempt := 1; ; attempt++ {
		c, err := tryStartCluster(t, n)
		if err == nil {
			c.waitJetStream(30 * time.Second)
			return c
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("cluster start, attempt %d: %v; again on other ports", attempt, err)
	}
}

// tryStartCluster starts n servers on cluster ports free a moment ago
// and waits until each is ready for connections; it shuts them down if
// one is not.
func tryStartCluster(t testing.TB, n int) (*natsCluster, error) {
	t.Helper()
	// Routes name each other's cluster ports, so those are chosen
	// before any server starts.
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	c := &natsCluster{t: t, down: make([]bool, n)}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("purgebus-test-%d", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster: server.ClusterOpts{
				Name: "purgebus-test",
				Host: "127.0.0.1",
				Port: ports[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			c.shutdownAll()
			return nil, fmt.Errorf("server %d: %w", i, err)
		}
		go srv.Start()
		c.servers = append(c.servers, srv)
	}
	for i, srv := range c.servers {
		if !srv.ReadyForConnections(20 * time.Second) {
			c.shutdownAll()
			return nil, fmt.Errorf("server %d (cluster port %d) not ready", i, ports[i])
		}
	}
	t.Cleanup(c.shutdownAll)
	return c, nil
}

// waitJetStream waits until the running servers have a JetStream meta
// leader and all of them are current with it.
func (c *natsCluster) waitJetStream(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		leader, current := false, true
		for i, srv := range c.servers {
			if c.down[i] {
				continue
			}
			leader = leader || srv.JetStreamIsLeader()
			current = current && srv.JetStreamIsCurrent()
		}
		if leader && current {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no JetStream meta leader after %v", timeout)
}

// URLs returns the client URLs of every server, comma-separated, as a
// client of the cluster is configured.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, srv := range c.servers {
		urls = append(urls, srv.ClientURL())
	}
	return strings.Join(urls, ",")
}

// streamLeader returns the index of the server leading stream, or -1.
func (c *natsCluster) streamLeader(stream string) int {
	for i, srv := range c.servers {
		if !c.down[i] && srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// moveStreamLeader asks stream's leader to step down in favour of server
// i, and waits until i leads it; it reports whether i does.
func (c *natsCluster) moveStreamLeader(nc *nats.Conn, stream string, i int) bool {
	c.t.Helper()
	body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, c.servers[i].Name())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.streamLeader(stream) == i {
			return true
		}
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(body), 2*time.Second); err != nil {
			c.t.Logf("step down %s: %v", stream, err)
		}
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && c.streamLeader(stream) != i; {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c.streamLeader(stream) == i
}

// shutdown stops server i abruptly: no leadership is handed over.
func (c *natsCluster) shutdown(i int) {
	if c.down[i] {
		return
	}
	c.down[i] = true
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
}

func (c *natsCluster) shutdownAll() {
	for i := range c.servers {
		c.shutdown(i)
	}
}

// connect returns a client connection to the cluster and its JetStream.
func (c *natsCluster) connect() (*nats.Conn, jetstream.JetStream) {
	c.t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2000))
	if err != nil {
		c.t.Fatal(err)
	}
	return nc, js
}

// crashDialer dials NATS for one consumer replica until crash, which cuts
// every connection it made and refuses new ones: to the cluster the
// replica is gone, as if its process had died, while its Close was never
// called.
type crashDialer struct {
	mu      sync.Mutex
	conns   []net.Conn
	crashed bool
	d       net.Dialer
}

// Dial implements nats.CustomDialer.
func (d *crashDialer) Dial(network, address string) (net.Conn, error) {
	conn, err := d.d.Dial(network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		_ = conn.Close()
		return nil, errors.New("replica crashed")
	}
	d.conns = append(d.conns, conn)
	return conn, nil
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	for _, c := range d.conns {
		_ = c.Close()
	}
}

// publishEvents publishes n events of unique URLs, burst URLs each for
// the first burstEvents and one each for the rest, with asynchronous
// publishes, and returns the event IDs with their URLs.
func publishEvents(t testing.TB, js jetstream.JetStream, prefix string, n, burstEvents, burst int) map[string][]string {
	t.Helper()
	want := make(map[string][]string, n)
	futures := make([]jetstream.PubAckFuture, 0, n)
	next := 0
	for i := range n {
		ev := &events.ContentChanged{ID: fmt.Sprintf("%s-%d", prefix, i)}
		k := 1
		if i < burstEvents {
			k = burst
		}
		for range k {
			ev.URLs = append(ev.URLs, url(next))
			next++
		}
		data, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		f, err := js.PublishAsync(events.SubjectContentChanged, data, jetstream.WithMsgID(ev.ID), jetstream.WithStallWait(30*time.Second))
		if err != nil {
			t.Fatalf("publish %s: %v", ev.ID, err)
		}
		futures = append(futures, f)
		want[ev.ID] = ev.URLs
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		t.Fatalf("%d publishes unacknowledged after 60 s", js.PublishAsyncPending())
	}
	for _, f := range futures {
		select {
		case err := <-f.Err():
			t.Fatalf("publish %s: %v", f.Msg().Header.Get(jetstream.MsgIDHeader), err)
		default:
		}
	}
	return want
}

// awaitResults reads the result stream until every event of want has a
// result, and returns them by event ID, every copy kept.
func awaitResults(t testing.TB, js jetstream.JetStream, want map[string][]string, timeout time.Duration) map[string][]events.PurgeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cons jetstream.Consumer
	for {
		var err error
		if cons, err = js.OrderedConsumer(ctx, events.DefaultResultStream, jetstream.OrderedConsumerConfig{}); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v", events.DefaultResultStream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := make(map[string][]events.PurgeResult, len(want))
	missing := len(want)
	for missing > 0 {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("%d of %d events without a result after %v: %v", missing, len(want), timeout, err)
			}
			continue // a server went away; the ordered consumer recovers
		}
		for m := range batch.Messages() {
			res, err := events.DecodeResult(m.Data())
			if err != nil {
				t.Fatalf("undecodable result %s: %v", m.Data(), err)
			}
			if _, ok := want[res.EventID]; ok && len(out[res.EventID]) == 0 {
				missing--
			}
			out[res.EventID] = append(out[res.EventID], res)
		}
		if ctx.Err() != nil && missing > 0 {
			t.Fatalf("%d of %d events without a result after %v", missing, len(want), timeout)
		}
	}
	return out
}
