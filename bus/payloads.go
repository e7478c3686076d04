package bus

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPayloadBucket is the JetStream object store bucket that keeps the
// events too large to fit their dead letter whole (see PayloadStore).
const DefaultPayloadBucket = "purgebus_deadletter_payloads"

// ErrNoPayloadBucket is returned by PayloadStore.Put when its bucket does
// not exist: without --provision on a NATS cluster, nothing creates it.
var ErrNoPayloadBucket = errors.New("bus: the object store bucket of large dead letters' events is missing (the consumer creates it with --provision)")

// payloadStoreConfig is the object store of the dead letters' payloads:
// kept as long as the dead letters, within the same size bound.
func (c StreamsConfig) payloadStoreConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      c.PayloadBucket,
		Description: "purgebus: events too large for their dead letter, whole",
		TTL:         c.DeadLetterMaxAge,
		MaxBytes:    orUnlimited(c.DeadLetterMaxBytes),
		Storage:     c.Storage,
		Replicas:    c.Replicas,
	}
}

// PayloadStore keeps the whole payload of events whose dead letter cannot
// hold it: a dead letter is one NATS message, and an event near the
// server's max_payload, quoted, is larger. Each payload is one object of a
// JetStream object store bucket, which splits it into chunks that fit.
type PayloadStore struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	bucket string

	mu  sync.Mutex
	obs jetstream.ObjectStore
}

// NewPayloadStore returns a PayloadStore over the bucket named in c
// (DefaultPayloadBucket when empty), on nc. The bucket is opened at the
// first Put; Provision creates it.
func NewPayloadStore(nc *nats.Conn, c StreamsConfig) (*PayloadStore, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return &PayloadStore{js: js, nc: nc, bucket: c.Defaults().PayloadBucket}, nil
}

// Bucket is the name of the object store bucket.
func (s *PayloadStore) Bucket() string { return s.bucket }

// Put stores data as the object name. An object of that name and size
// is taken for the same event stored by an earlier delivery, and kept:
// replacing it would need the right to purge the bucket's stream.
func (s *PayloadStore) Put(ctx context.Context, name string, data []byte) error {
	obs, err := s.open(ctx)
	if err != nil {
		return err
	}
	if info, err := obs.GetInfo(ctx, name); err == nil && info.Size == uint64(len(data)) {
		return nil
	}
	// Chunks travel as messages, which must fit the server's
	// max_payload along with their headers.
	chunk := uint32(128 << 10)
	if mp := s.nc.MaxPayload(); mp > 0 && mp-1024 < int64(chunk) {
		chunk = uint32(max(mp-1024, 256))
	}
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunk}}
	if _, err := obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("bus: store payload %s in bucket %s: %w", name, s.bucket, err)
	}
	return nil
}

func (s *PayloadStore) open(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obs != nil {
		return s.obs, nil
	}
	obs, err := s.js.ObjectStore(ctx, s.bucket)
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNoPayloadBucket, s.bucket)
		}
		return nil, fmt.Errorf("bus: object store bucket %s: %w", s.bucket, err)
	}
	s.obs = obs
	return obs, nil
}

// GetPayload reads the object name of bucket: the whole payload of a dead
// letter whose PayloadTruncated is set. It reads the object's description
// and then its chunks through an ordered pull consumer, as readers of the
// streams do, rather than nats.go's object store reader, whose push
// consumer needs the right to answer flow control as well.
func GetPayload(ctx context.Context, js jetstream.JetStream, bucket, name string) ([]byte, error) {
	stream := "OBJ_" + bucket
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("bus: object store bucket %s: %w", bucket, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "$O."+bucket+".M."+base64.URLEncoding.EncodeToString([]byte(name)))
	if err != nil {
		return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, err)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, err)
	}
	if info.Deleted || info.NUID == "" {
		return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, jetstream.ErrObjectNotFound)
	}
	data := make([]byte, 0, info.Size)
	if info.Chunks > 0 {
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"$O." + bucket + ".C." + info.NUID}})
		if err != nil {
			return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, err)
		}
		it, err := cons.Messages()
		if err != nil {
			return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, err)
		}
		defer it.Stop()
		for range info.Chunks {
			c, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return nil, fmt.Errorf("bus: payload %s in bucket %s: %w", name, bucket, err)
			}
			data = append(data, c.Data()...)
		}
	}
	if uint64(len(data)) != info.Size {
		return nil, fmt.Errorf("bus: payload %s in bucket %s: %d bytes read, the object has %d", name, bucket, len(data), info.Size)
	}
	return data, nil
}
