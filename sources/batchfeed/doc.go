// Package batchfeed is a source for batch polling feeds (seed 002):
// GET {base}/eventnotifications/v2/{feedId}/next hands out a batch of 1–10
// notifications, the same one until POST …/{feedId}/{batchId}/complete.
//
// A Source reads one feed; give a pipeline one Source per feed. It emits the
// notifications of a batch one at a time, in batch order, each redelivered
// until the router acks it (i.e. it is durably in the pipeline topic), and
// completes the batch only then. A crash between storing and completing
// gets the same batch again after restart; the router's dedup, keyed on the
// notification id, drops the repeats. A complete that fails is retried with
// backoff until the feed answers 200, or 404 (the batch is no longer there:
// a complete whose answer was lost already took effect); it is never skipped
// and only ever names the batch whose events are stored, so it cannot
// complete the batch after it.
//
//	src, err := batchfeed.NewSource(batchfeed.Config{
//		BaseURL:     "https://api.example.com",
//		FeedID:      "journey",
//		TokenSource: batchfeed.ClientCredentials(ctx, cc, time.Minute),
//		TenantID:    tenant,
//	}, logger)
//	pipeline.Sources = append(pipeline.Sources, router.Source{Name: "journey", Subscriber: src})
package batchfeed
