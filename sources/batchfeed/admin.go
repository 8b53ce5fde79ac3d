package batchfeed

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ThreeDotsLabs/watermill"
)

// DiscardAllOptions guard DiscardAll.
type DiscardAllOptions struct {
	// Confirm must be true: discardAll moves every waiting event of the feed
	// to the provider's archive, where no client can fetch it again.
	Confirm bool
	// Reason and Operator go into the log, for the record.
	Reason   string
	Operator string
}

// ErrNotConfirmed is returned by DiscardAll without Confirm.
var ErrNotConfirmed = errors.New("batchfeed: discardAll refused: set DiscardAllOptions.Confirm to empty the feed; its events cannot be fetched again")

// DiscardAll empties the feed (PUT …/{feedId}/discardAll), an admin
// operation for change windows or a feed coming into scope. It refuses
// without opts.Confirm, and logs the request and its outcome. The provider
// warns that it can time out on a feed not polled for long; it is safe to
// call again.
func (c *Client) DiscardAll(ctx context.Context, opts DiscardAllOptions) error {
	fields := watermill.LogFields{"reason": opts.Reason, "operator": opts.Operator}
	if !opts.Confirm {
		c.metrics.Load().discards.WithLabelValues("refused").Inc()
		c.logger.Error("discardAll refused: not confirmed", ErrNotConfirmed, fields)
		return ErrNotConfirmed
	}
	c.logger.Info("discardAll: emptying feed, its events go to the provider's archive", fields)
	a, err := c.do(ctx, http.MethodPut, c.base+"/discardAll", "discardAll", c.cfg.DiscardTimeout)
	switch {
	case err != nil:
	case a.status == http.StatusNotFound:
		err = &FeedNotFoundError{Feed: c.cfg.FeedID, Suggestion: suggestFeed(c.cfg.FeedID), TraceID: traceID(a.body)}
	case a.status < 200 || a.status > 299:
		err = a.statusError("discardAll")
	}
	if err != nil {
		c.metrics.Load().discards.WithLabelValues("failed").Inc()
		c.logger.Error("discardAll failed", err, fields)
		return fmt.Errorf("batchfeed: discardAll %q: %w", c.cfg.FeedID, err)
	}
	c.metrics.Load().discards.WithLabelValues("done").Inc()
	c.logger.Info("discardAll done: feed emptied", fields)
	return nil
}
