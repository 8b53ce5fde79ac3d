// Package etagpoll is a source (a Watermill message.Subscriber) that polls an
// event-log API the way seed 000 describes: a cheap conditional request
// (GET {base}/eventlogs?limit=1 with If-None-Match) tells whether anything
// changed; only then are the events since the cursor fetched
// (?startDate={cursor}&orderBy=createdAt:DESC), page after page.
//
// Unlike the seed's "cursor = new Date()", the cursor here never loses an
// event:
//
//   - it is the largest createdAt actually received, in the server's clock, so
//     client clock skew does not matter;
//   - every fetch re-reads an overlap window below the cursor, which catches
//     events that become visible late (committed after a newer one); the
//     router's dedup (keyed by the event id, which also derives the message
//     UUID) drops the re-reads;
//   - cursor and ETag are stored together, durably (package checkpoint), and
//     only after every message of the poll has been acked. Saving the ETag
//     earlier, as the seed suggests, would turn a crash between the fetch and
//     the acks into a 304 on restart and the fetched events would never be
//     read again.
//
// Errors talking to the API (non-JSON or truncated bodies, oversized bodies,
// events without id or createdAt, 4xx/5xx, timeouts, redirects to another
// host) are logged, counted in tributary_source_errors_total and retried with
// exponential backoff; the cursor stays where it was.
package etagpoll
