// Command gopublish measures the Go publisher (events.Publisher.Publish,
// the queued form) the way clients/python/benchmarks/bench_publish.py
// measures the Python one, so the two are compared in the same run: n
// events from c goroutines sharing one connection, each Publish waiting
// for JetStream's acknowledgement. It prints one JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/purgebus/purgebus/events"
)

type report struct {
	Events      int     `json:"events"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
}

func main() {
	url := flag.String("nats-url", nats.DefaultURL, "NATS server")
	n := flag.Int("n", 2000, "events to publish")
	c := flag.Int("c", 1, "goroutines publishing at once")
	flag.Parse()
	if err := run(*url, *n, *c); err != nil {
		fmt.Fprintln(os.Stderr, "gopublish:", err)
		os.Exit(1)
	}
}

func run(url string, n, c int) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: "content.changed.bench"})
	if err != nil {
		return err
	}
	ctx := context.Background()
	lat := make([]time.Duration, n)
	errs := make(chan error, c)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += c {
				e := events.NewContentChanged("bench-go").AddURLs(fmt.Sprintf("https://www.example.com/bench/go/%d", i))
				t := time.Now()
				if err := pub.Publish(ctx, e); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.NewEncoder(os.Stdout).Encode(report{
		Events:      n,
		Concurrency: c,
		Seconds:     elapsed.Seconds(),
		PerSecond:   float64(n) / elapsed.Seconds(),
		P50ms:       ms(lat[n/2]),
		P99ms:       ms(lat[n*99/100]),
	})
}
