package pgtopic

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// startLease keeps an owner's claims alive: every third of the TTL it
// extends the claims it holds on topics and queue rows. An owner that dies
// stops extending them, and they expire. stop ends it and waits.
func startLease(db DB, owner string, ttl time.Duration, logger watermill.LoggerAdapter) (stop func()) {
	stopped, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stopped.Done():
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
			secs := ttl.Seconds()
			// A lost extension only lets claims expire early (a
			// repeat): no wait for the disk (relaxCommit).
			_, err := execRelaxed(ctx, db, `UPDATE tributary_claims SET expires_at = now() + make_interval(secs => $2)
				WHERE owner = $1`, owner, secs)
			if err == nil {
				_, err = execRelaxed(ctx, db, `UPDATE tributary_queue SET claim_expires = now() + make_interval(secs => $2)
					WHERE claimed_by = $1`, owner, secs)
			}
			cancel()
			if err != nil {
				logger.Error("Extending claims failed; they expire unless the next try works", err,
					watermill.LogFields{"owner": owner})
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
