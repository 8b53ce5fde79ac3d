package middleware

import (
	"context"
	"sync"
	"time"
)

// MemoryDedupStore is a DedupStore for unit tests: not shared, lost on exit.
type MemoryDedupStore struct {
	mu   sync.Mutex
	keys map[string]time.Time
}

// Record implements DedupStore.
func (s *MemoryDedupStore) Record(_ context.Context, pipeline, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]time.Time{}
	}
	k := pipeline + "\x00" + key
	now := time.Now()
	if exp, ok := s.keys[k]; ok && exp.After(now) {
		return true, nil
	}
	s.keys[k] = now.Add(ttl)
	return false, nil
}

// MemoryPoisonStore is a PoisonStore for unit tests.
type MemoryPoisonStore struct {
	mu      sync.Mutex
	records []PoisonRecord
}

// Add implements PoisonStore.
func (s *MemoryPoisonStore) Add(_ context.Context, rec PoisonRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.ID = int64(len(s.records) + 1)
	s.records = append(s.records, rec)
	return nil
}

// Records returns what was poisoned so far.
func (s *MemoryPoisonStore) Records() []PoisonRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]PoisonRecord(nil), s.records...)
}
