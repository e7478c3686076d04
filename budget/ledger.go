package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Ledger counts uses of a key in a sliding hour against a limit: the
// hourly escalation budget of a route. Replicas that share a Ledger share
// the limit.
type Ledger interface {
	// Spend records one use of key at now if fewer than max were
	// recorded in the hour before now. Otherwise it records nothing,
	// reports false and when the oldest of those uses leaves the hour.
	Spend(ctx context.Context, key string, max int, now time.Time) (ok bool, next time.Time, err error)
	// Used returns how many uses of key were recorded in the hour
	// before now.
	Used(ctx context.Context, key string, now time.Time) (int, error)
}

// spend is the sliding-hour rule shared by the ledgers: uses are the
// times of the recorded uses, oldest first. It returns the uses to keep
// (the last hour's, with now added if allowed), whether now was added,
// and when the oldest kept use expires if not.
func spend(uses []time.Time, max int, now time.Time) (kept []time.Time, ok bool, next time.Time) {
	kept = lastHour(uses, now)
	if len(kept) >= max {
		return kept, false, kept[0].Add(time.Hour)
	}
	return append(kept, now), true, time.Time{}
}

// lastHour returns the uses of the hour before now.
func lastHour(uses []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(uses) && now.Sub(uses[i]) >= time.Hour {
		i++
	}
	return uses[i:]
}

// LocalLedger is a Ledger of one process.
type LocalLedger struct {
	mu   sync.Mutex
	uses map[string][]time.Time
}

// NewLocalLedger returns an empty LocalLedger.
func NewLocalLedger() *LocalLedger { return &LocalLedger{uses: map[string][]time.Time{}} }

// Spend implements Ledger.
func (l *LocalLedger) Spend(_ context.Context, key string, max int, now time.Time) (bool, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept, ok, next := spend(l.uses[key], max, now)
	l.uses[key] = kept
	return ok, next, nil
}

// Used implements Ledger.
func (l *LocalLedger) Used(_ context.Context, key string, now time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.uses[key] = lastHour(l.uses[key], now)
	return len(l.uses[key]), nil
}

// KVLedger is a Ledger kept in a JetStream key-value bucket (the shared
// budgets' bucket, see OpenKV), so that replicas share each key's limit.
// A key's uses are one entry, updated by compare-and-set.
type KVLedger struct {
	kv     jetstream.KeyValue
	prefix string
}

// NewKVLedger returns a KVLedger whose entries are named prefix, a dot
// and the key escaped as KVKey escapes account names.
func NewKVLedger(kv jetstream.KeyValue, prefix string) *KVLedger {
	return &KVLedger{kv: kv, prefix: prefix}
}

// ledgerEntry is a key's entry: the uses of the last hour, in Unix
// milliseconds, oldest first.
type ledgerEntry struct {
	Uses []int64 `json:"uses"`
}

// Spend implements Ledger.
func (l *KVLedger) Spend(ctx context.Context, key string, max int, now time.Time) (bool, time.Time, error) {
	name := l.entry(key)
	for range casAttempts {
		uses, rev, err := l.load(ctx, name)
		if err != nil {
			return false, time.Time{}, err
		}
		kept, ok, next := spend(uses, max, now)
		if !ok {
			return false, next, nil
		}
		e := ledgerEntry{Uses: make([]int64, len(kept))}
		for i, t := range kept {
			e.Uses[i] = t.UnixMilli()
		}
		data, err := json.Marshal(e)
		if err != nil {
			return false, time.Time{}, err
		}
		if rev == 0 {
			_, err = l.kv.Create(ctx, name, data)
		} else {
			_, err = l.kv.Update(ctx, name, data, rev)
		}
		switch {
		case err == nil:
			return true, time.Time{}, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another replica spent meanwhile: count again
		default:
			return false, time.Time{}, fmt.Errorf("budget: ledger %s: %w", name, err)
		}
	}
	return false, time.Time{}, fmt.Errorf("budget: ledger %s: %d conflicting writes in a row", name, casAttempts)
}

// Used implements Ledger.
func (l *KVLedger) Used(ctx context.Context, key string, now time.Time) (int, error) {
	uses, _, err := l.load(ctx, l.entry(key))
	return len(lastHour(uses, now)), err
}

// entry returns the key-value key of key.
func (l *KVLedger) entry(key string) string { return l.prefix + "." + KVKey(key) }

// load reads an entry: its uses and revision, none and 0 when missing.
func (l *KVLedger) load(ctx context.Context, name string) ([]time.Time, uint64, error) {
	kve, err := l.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("budget: ledger %s: %w", name, err)
	}
	var e ledgerEntry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, 0, fmt.Errorf("budget: ledger %s: %w", name, err)
	}
	uses := make([]time.Time, len(e.Uses))
	for i, ms := range e.Uses {
		uses[i] = time.UnixMilli(ms)
	}
	return uses, kve.Revision(), nil
}
