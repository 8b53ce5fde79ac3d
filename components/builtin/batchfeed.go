package builtin

import (
	"context"
	"fmt"
	"github.com/tributary-dev/tributary/components"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sources/batchfeed"
)

// The batchfeed source reads one batch polling feed: GET …/{feed}/next,
// store every notification, then POST …/{batchId}/complete. Its options are
// batchfeed.Config. Built, it is a components.Discarder, so `tributary feed discard`
// empties the feed with the provider's discardAll.
func init() {
	components.RegisterSource("batchfeed", "reads a batch polling feed: next, store, complete; supports feed discard",
		func(env components.Env, cfg *batchfeed.Config) (tributary.Source, error) {
			c := *cfg
			src, err := batchfeed.NewSource(c, withKnownFields(env.Logger, map[string]string{"source": env.Name}))
			if err != nil {
				return nil, err
			}
			return &BatchfeedSource{Source: src, feed: c.FeedID}, nil
		})
}

// BatchfeedSource is a batchfeed.Source that can discard its feed.
type BatchfeedSource struct {
	*batchfeed.Source
	feed string
}

// DiscardAll implements components.Discarder with the provider's discardAll. The
// request's Confirm is batchfeed's own guard: without it nothing is sent.
// The provider does not say how many events it archived.
func (s *BatchfeedSource) DiscardAll(ctx context.Context, req components.DiscardRequest) (components.DiscardResult, error) {
	err := s.Client().DiscardAll(ctx, batchfeed.DiscardAllOptions{Confirm: req.Confirm, Reason: req.Reason, Operator: req.Operator})
	if err != nil {
		return components.DiscardResult{}, err
	}
	return components.DiscardResult{Count: -1, Detail: fmt.Sprintf("(feed %q emptied; its events are in the provider's archive)", s.feed)}, nil
}
