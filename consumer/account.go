package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/budget"
	"github.com/purgebus/purgebus/handler"
	"github.com/purgebus/purgebus/routing"
)

// Account is an Akamai account the consumer purges through, when
// Config.Routing names several.
type Account struct {
	// Akamai configures the account's Fast Purge client.
	Akamai akamai.Config
	// Limits are the account's buckets (Akamai's documented ones when
	// zero).
	Limits budget.Limits
	// Budget, when set, replaces the budget built from Limits.
	Budget budget.Budget
}

// account is an Account at work: its client, budget, circuit and
// coalescer.
type account struct {
	name      string
	cfg       Account
	client    *akamai.Client
	budget    budget.Budget
	circuit   *handler.Circuit
	coalescer *handler.Coalescer
}

// accountConfigs returns the accounts to purge through, by name: the
// routing configuration's, or the single account of cfg.Akamai.
func accountConfigs(cfg Config) (map[string]Account, error) {
	if cfg.Routing == nil {
		return map[string]Account{routing.DefaultAccount: {Akamai: cfg.Akamai, Limits: cfg.Limits, Budget: cfg.Budget}}, nil
	}
	out := make(map[string]Account, len(cfg.Routing.Accounts))
	var missing []string
	for name, ra := range cfg.Routing.Accounts {
		a, ok := cfg.Accounts[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if a.Limits == (budget.Limits{}) {
			a.Limits = ra.Limits
		}
		if a.Akamai.MaxObjects == nil {
			a.Akamai.MaxObjects = ra.MaxObjects
		}
		out[name] = a
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("consumer: routing names accounts without a client configuration: %v", missing)
	}
	return out, nil
}

// newAccount builds what purges through one account, once NATS is up
// (a shared budget lives there). sharedBudget opens the shared budget of
// an account; nil means a local one.
func (c *Consumer) newAccount(name string, a Account, client *akamai.Client, shared func(name string, a Account) (budget.Budget, budget.Ledger, error)) (*account, error) {
	cfg := c.cfg
	acct := &account{name: name, cfg: a, client: client}
	ccfg := cfg.Coalescer
	log := c.log.With("account", name)
	if ccfg.Logger == nil {
		ccfg.Logger = log.With("component", "purge")
	} else {
		ccfg.Logger = ccfg.Logger.With("account", name)
	}
	if a.Akamai.MaxObjects != nil {
		ccfg.MaxObjects = a.Akamai.MaxObjects
	}
	if ccfg.FlushAt == 0 {
		ccfg.FlushAt = cfg.Streams.MaxAckPending
	}
	if ccfg.Escalations == nil {
		ccfg.Escalations = escalations(cfg.Routing, name)
	}
	var err error
	switch {
	case cfg.Unpaced:
		ccfg.Budget = nil
	case ccfg.Budget != nil:
	case a.Budget != nil:
		ccfg.Budget = a.Budget
	case shared != nil:
		var ledger budget.Ledger
		if ccfg.Budget, ledger, err = shared(name, a); err != nil {
			return nil, err
		}
		if ccfg.EscalationLedger == nil {
			ccfg.EscalationLedger = ledger
		}
	default:
		if ccfg.Budget, err = budget.NewLocal(budget.Config{Limits: a.Limits}); err != nil {
			return nil, fmt.Errorf("consumer: account %s: %w", name, err)
		}
	}
	if ccfg.Circuit == nil {
		cc := cfg.Circuit
		if cc.Probe == nil {
			cc.Probe = func(ctx context.Context) error {
				_, err := client.RateLimitStatus(ctx, akamai.TypeURL)
				return err
			}
		}
		if cc.Logger == nil {
			cc.Logger = log.With("component", "circuit")
		}
		cc.OnChange = func(s handler.CircuitState, cause error) { c.circuitChanged(name, s, cause) }
		ccfg.Circuit = handler.NewCircuit(cc)
	}
	// The circuit's series exists from the start, so that an alert on an
	// open circuit and the dashboard see every account, not only those
	// whose circuit once changed.
	state, _ := ccfg.Circuit.State()
	cfg.Metrics.SetCircuit(name, int(state))
	m := cfg.Metrics
	if m != nil {
		observe := ccfg.Observe
		ccfg.Observe = func(st handler.RequestStats) {
			m.ObserveRequest(st)
			if observe != nil {
				observe(st)
			}
		}
		submit := ccfg.OnSubmit
		ccfg.OnSubmit = func(k handler.Key, n int) {
			m.ObjectsSubmitted(k.Type, n)
			if submit != nil {
				submit(k, n)
			}
		}
		escalated := ccfg.OnEscalation
		ccfg.OnEscalation = func(st handler.EscalationStats) {
			m.Escalated(name, st.Type)
			if escalated != nil {
				escalated(st)
			}
		}
	}
	acct.budget, acct.circuit = ccfg.Budget, ccfg.Circuit
	acct.coalescer = handler.NewCoalescer(client, ccfg)
	return acct, nil
}

// escalations returns the escalating routes of account in cfg (nil:
// none).
func escalations(cfg *routing.Config, account string) []handler.Escalation {
	if cfg == nil {
		return nil
	}
	var out []handler.Escalation
	for _, r := range cfg.Routes {
		if r.Escalate == nil || r.Account != account {
			continue
		}
		t, obj := r.Escalate.Object()
		out = append(out, handler.Escalation{Route: r.Name(), Type: t, Object: obj, After: r.Escalate.After, MaxPerHour: r.Escalate.MaxPerHour})
	}
	return out
}

// checkAkamai asks Akamai once at start for the buckets' levels, so the
// budget starts from Akamai's truth, and trips the circuit at once when
// the credentials are refused. Akamai being unreachable is no reason not
// to start: events wait in JetStream, and requests retry.
func (a *account) checkAkamai(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, t := range []akamai.Type{akamai.TypeURL, akamai.TypeTag, akamai.TypeCPCode} {
		rl, err := a.client.RateLimitStatus(ctx, t)
		switch {
		case err == nil:
			if a.budget != nil {
				a.budget.Observe(t, rl)
			}
			continue
		case handler.RefusesCredentials(err):
			a.circuit.Trip(err)
		default:
			log.Warn("Akamai rate-limit status unavailable at start", "account", a.name, "type", t, "err", err)
		}
		return
	}
}

// levels reports the budget's buckets for metrics, when it can.
func (a *account) levels() []budget.Level {
	if l, ok := a.budget.(interface{ Levels() []budget.Level }); ok {
		return l.Levels()
	}
	return nil
}

// credentialsOK reports an account whose credentials Akamai refuses.
func (a *account) credentialsOK() error {
	s, cause := a.circuit.State()
	if s == handler.CircuitClosed {
		return nil
	}
	if cause == nil {
		cause = errors.New("credentials refused")
	}
	// Akamai's refusal names no secret: the title and detail of a 401.
	return fmt.Errorf("account %s: %w", a.name, cause)
}
