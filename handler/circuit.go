package handler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// CircuitState is the state of a Circuit.
type CircuitState int

// The states of a Circuit: closed while Akamai accepts the credentials,
// open after it refused them, half-open while a probe is under way.
const (
	CircuitClosed CircuitState = iota
	CircuitOpen
	CircuitHalfOpen
)

func (s CircuitState) String() string {
	switch s {
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half-open"
	}
	return "closed"
}

// CircuitConfig configures a Circuit.
type CircuitConfig struct {
	// Probe asks Akamai whether it accepts the credentials again, without
	// purging anything; (*akamai.Client).RateLimitStatus is a good one.
	Probe func(ctx context.Context) error
	// MinBackoff and MaxBackoff bound the wait between probes, which
	// doubles after each refusal (1 s and 1 min when 0).
	MinBackoff, MaxBackoff time.Duration
	// OnChange, when set, is told about every change of state, with the
	// refusal that opened the circuit.
	OnChange func(state CircuitState, cause error)
	Logger   *slog.Logger
}

// Circuit stops purging while Akamai refuses purgebus's credentials (401,
// or a 400 for a skewed clock). Such a refusal is wrong for every request,
// so retrying each would only hammer Akamai and burn deliveries: the first
// one opens the circuit, requests wait, and a probe with growing back-off
// closes it once the credentials are accepted again.
type Circuit struct {
	cfg CircuitConfig

	mu     sync.Mutex
	state  CircuitState
	cause  error
	closed chan struct{} // closed while the circuit is closed
	stop   chan struct{}
	wg     sync.WaitGroup
}

// NewCircuit returns a closed Circuit.
func NewCircuit(cfg CircuitConfig) *Circuit {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Circuit{cfg: cfg, closed: make(chan struct{}), stop: make(chan struct{})}
	close(c.closed)
	return c
}

// State returns the state of the circuit and the refusal that opened it.
func (c *Circuit) State() (CircuitState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.cause
}

// Wait blocks while the circuit is open, until it closes or ctx ends.
func (c *Circuit) Wait(ctx context.Context) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Trip opens the circuit because Akamai refused the credentials with err,
// and starts probing. Tripping an open circuit does nothing.
func (c *Circuit) Trip(err error) {
	c.mu.Lock()
	if c.state != CircuitClosed {
		c.mu.Unlock()
		return
	}
	select {
	case <-c.stop:
		c.mu.Unlock()
		return
	default:
	}
	c.state, c.cause = CircuitOpen, err
	c.closed = make(chan struct{})
	c.wg.Add(1)
	c.mu.Unlock()
	c.cfg.Logger.Error("Akamai refuses the credentials: purging is paused until they are accepted; check the .edgerc section, the clock and the API client's grants",
		"err", err)
	c.notify(CircuitOpen, err)
	go c.probe()
}

func (c *Circuit) notify(s CircuitState, err error) {
	if c.cfg.OnChange != nil {
		c.cfg.OnChange(s, err)
	}
}

// probe asks Akamai with growing back-off until it accepts the
// credentials or the circuit is stopped.
func (c *Circuit) probe() {
	defer c.wg.Done()
	wait := c.cfg.MinBackoff
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		c.set(CircuitHalfOpen, nil)
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.cfg.Probe(pctx)
		pcancel()
		if err == nil || !RefusesCredentials(err) {
			// Anything but a refusal of the credentials (even 5xx or a
			// timeout) says they are no longer the problem; the requests'
			// own retries deal with the rest.
			c.mu.Lock()
			c.state, c.cause = CircuitClosed, nil
			close(c.closed)
			c.mu.Unlock()
			c.cfg.Logger.Info("Akamai accepts the credentials again: purging resumes", "probes", attempt)
			c.notify(CircuitClosed, nil)
			return
		}
		c.set(CircuitOpen, err)
		c.cfg.Logger.Error("Akamai still refuses the credentials", "probe", attempt, "next_probe_in", min(2*wait, c.cfg.MaxBackoff), "err", err)
		wait = min(2*wait, c.cfg.MaxBackoff)
	}
}

func (c *Circuit) set(s CircuitState, err error) {
	c.mu.Lock()
	c.state = s
	if err != nil {
		c.cause = err
	}
	cause := c.cause
	c.mu.Unlock()
	c.notify(s, cause)
}

// Stop ends probing; the circuit stays in its state. Stop is for shutdown.
func (c *Circuit) Stop() {
	c.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// RefusesCredentials reports whether err is Akamai refusing the request's
// signature rather than its content: 401, or the 400 it answers for a
// skewed clock.
func RefusesCredentials(err error) bool {
	var ae *akamai.Error
	return errors.As(err, &ae) && authFailure(ae)
}
