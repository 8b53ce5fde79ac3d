// Package batchfeed is a source for batch polling feeds:
// GET {base}/eventnotifications/v2/{feedId}/next hands out a batch of 1–10
// notifications, the same one until POST …/{feedId}/{batchId}/complete.
//
// A Source reads one feed; give a pipeline one Source per feed. It hands on
// the notifications of a batch as one group (tributary.Emit), in batch
// order, again until Emit returns, i.e. until every one is durably in the
// pipeline topic, and completes the batch only then. The message id derives
// from the notification id and the payload is the notification object as
// received; its fields are in metadata (MetaWhen, MetaBatchID, …).
//
// Completion is the one irreversible step, so:
//   - a crash between storing and completing gets the same batch again after
//     restart; the router's dedup, keyed on the notification id, drops the
//     repeats;
//   - a complete that fails is retried with backoff, never skipped, and only
//     ever names the batch whose events are stored;
//   - a complete that took effect but whose answer was lost is recognised by
//     a 404 on retry, or by a probing next that serves another batch (or
//     none): that batch is then stored before it is completed, never
//     completed unread.
//
// moreAvailable fetches the next batch at once; an empty feed (204) or a
// batch without moreAvailable waits PollInterval with jitter; errors back off
// exponentially with jitter (Retry-After wins when longer). Bad answers —
// malformed or truncated JSON, no batchId, no or more than 10 notifications,
// a notification without id, 5xx, timeouts — are logged, counted in
// tributary_source_errors_total{kind} and retried. A 404 on next is a wrong
// feed id (they are case-sensitive): the source stops with a
// *FeedNotFoundError (the reason it gives the router) naming the valid ids.
//
// Auth: a bearer token from Config.TokenSource — ClientCredentials for
// OAuth2 client credentials (refreshed before expiry, dropped on 401), or
// StaticToken — and an optional tenant header. Client.DiscardAll empties a
// feed; it refuses without DiscardAllOptions.Confirm and is logged.
//
//	src, err := batchfeed.NewSource(batchfeed.Config{
//		BaseURL:     "https://api.example.com",
//		FeedID:      "journey",
//		TokenSource: batchfeed.ClientCredentials(ctx, cc, time.Minute),
//		TenantID:    tenant,
//	}, logger)
//	pipeline.Sources = append(pipeline.Sources, router.Source{Name: "journey", Source: src})
package batchfeed
