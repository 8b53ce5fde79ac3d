// Package etagpoll is a source (a Watermill message.Subscriber) that polls an
// event-log API with ETags: a cheap conditional request
// (GET {base}/eventlogs?limit=1 with If-None-Match) tells whether anything
// changed; only then are the events since the cursor fetched
// (?startDate={cursor}&orderBy=createdAt:DESC), page after page.
//
// Unlike the providers' own advice ("cursor = new Date()"), the cursor here never loses an
// event that becomes visible within Overlap (5 min) of the newest createdAt
// and is stamped no more than Overlap below it:
//
//   - it is the largest createdAt actually received, in the provider's
//     clock, so client clock skew does not matter;
//   - every fetch re-reads an Overlap window below the cursor, which catches
//     events that become visible late (committed after a newer one); the
//     router's dedup (keyed by the event id, which also derives the message
//     UUID) drops the re-reads;
//   - a late event does not change the newest event, so the probe may keep
//     answering 304 for it. After the cursor moves, the window is therefore
//     re-read on every poll, 304 or not, for ceil(Overlap/Interval)+1 polls:
//     at least Overlap, as polls are never closer than Interval. Counting
//     polls keeps the provider's clocks out of it. The cost is that many
//     window reads (one request each, plus one for the empty page that ends
//     a page or offset listing) and checkpoint saves after each change — 6
//     with the defaults — and none once the log is quiet; the count is
//     checkpointed and starts over after a restart;
//   - a first start without StartFrom begins Overlap before the server's
//     Date header, because the provider may stamp createdAt with another
//     clock behind it (a database host); the start is logged, and so is a
//     changed probe whose newest event lies below the window (never read);
//   - cursor and ETag are stored together, durably (package checkpoint), and
//     only after every message of the poll has been acked. Saving the ETag
//     earlier, as providers advise, would turn a crash between the fetch and
//     the acks into a 304 on restart and the fetched events would never be
//     read again.
//
// Paging (Config.Paging) is detected by default (see Auto; an offset refused
// with 400/422 counts as ignored). A short page never ends a window (the API
// may cap the page size below the one asked for); an empty page does.
//
// Errors talking to the API (non-JSON or truncated bodies, oversized bodies,
// events without id or createdAt, 4xx/5xx, timeouts, redirects to another
// host) are logged, counted in tributary_source_errors_total and retried with
// exponential backoff; the cursor stays where it was. Errors name options by
// their keys (Config's yaml tags).
package etagpoll
