package pgtopic

import (
	"context"
	"fmt"
	"time"
)

// pruneChunk bounds one delete, so pruning never holds many row locks long.
const pruneChunk = 5000

// Prune deletes the messages of topic that every consumer group is done
// with (at or below every group's position, in no claim and in no lane) and that are
// older than retention, chunk by chunk, and says how many. A topic nobody
// has subscribed to yet keeps everything.
func Prune(ctx context.Context, db DB, topic string, retention time.Duration) (int64, error) {
	var total int64
	for {
		// A lost delete is done again next time: no wait for the disk.
		tag, err := execRelaxed(ctx, db, `
			WITH bound AS (
				SELECT LEAST(
					(SELECT min(position) FROM tributary_consumers WHERE topic = $1),
					(SELECT min(o) - 1 FROM tributary_claims, unnest(offsets) o WHERE topic = $1),
					(SELECT min("offset") - 1 FROM tributary_lane_events WHERE topic = $1)) AS upto)
			DELETE FROM tributary_messages WHERE topic = $1 AND "offset" IN (
				SELECT "offset" FROM tributary_messages, bound
				WHERE topic = $1 AND "offset" <= bound.upto AND created_at < now() - make_interval(secs => $2)
				ORDER BY "offset" LIMIT $3)`, topic, retention.Seconds(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("pgtopic: prune %q: %w", topic, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk || ctx.Err() != nil {
			return total, nil
		}
	}
}
