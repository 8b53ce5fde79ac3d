package ops

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/store"
)

// The console pages beside the admin overview: event search, an event's
// page with its attempts and resend, endpoints with their last hour, and
// the live charts. Each page is read-only but for CSRF-checked POSTs.

var consolePages = template.Must(template.New("console").Funcs(pageFuncs).ParseFS(templates, "templates/console_*.html", "templates/parts.html"))

func (a *Admin) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /events", a.eventsPage)
	mux.HandleFunc("GET /events/{pipeline}/{offset}", a.eventPage)
	mux.HandleFunc("POST /events/{pipeline}/{offset}/resend", a.resend)
	mux.HandleFunc("GET /endpoints", a.endpointsPage)
	mux.HandleFunc("GET /resend/failed", a.bulkPreview)
	mux.HandleFunc("POST /resend/failed", a.bulkResend)
	mux.HandleFunc("GET /live", a.livePage)
	mux.HandleFunc("GET /live/stream", a.liveStream)
}

// consoleData is what every console page gets besides its own.
type consoleData struct {
	Title     string
	CSRF      string
	Flash     string
	Errors    errorList
	Nonce     string
	Pipelines []PipelineInfo
	Page      any
}

// errorList is what a page could not read, shown on it.
type errorList []string

// add adds err, if any.
func (l *errorList) add(err error) {
	if err != nil {
		*l = append(*l, err.Error())
	}
}

func (a *Admin) render(w http.ResponseWriter, name string, d consoleData) {
	for i := range d.Errors { // they may quote what a secret was in
		d.Errors[i] = a.redact.Text(d.Errors[i])
	}
	script := "'none'"
	if d.Nonce != "" {
		script = "'nonce-" + d.Nonce + "'"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src "+script+
		"; connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
	if err := consolePages.ExecuteTemplate(w, name, d); err != nil {
		a.cfg.Logger.Error("Rendering a console page failed", err, watermill.LogFields{"page": name})
	}
}

func (a *Admin) data(r *http.Request, title string) consoleData {
	return consoleData{Title: title, CSRF: a.csrfToken(), Flash: a.flash(r), Pipelines: a.cfg.Pipelines}
}

func (a *Admin) pipelineNames() []string {
	var out []string
	for _, p := range a.cfg.Pipelines {
		out = append(out, p.Name)
	}
	return out
}

func (a *Admin) hasSink(pipeline, sink string) bool {
	for _, p := range a.cfg.Pipelines {
		if p.Name == pipeline {
			return slices.ContainsFunc(p.Sinks, func(c ComponentInfo) bool { return c.Name == sink })
		}
	}
	return false
}

// requester names who asked for a change in the resend log: the page has
// one shared token, so the client address is what tells operators apart.
func requester(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "admin page from " + host
}

// parseTime reads a time field: RFC 3339, or the browser's datetime-local
// ("2006-01-02T15:04", taken as UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("bad time " + strconv.Quote(s) + ": want 2006-01-02T15:04 (UTC) or RFC 3339")
}

type eventsView struct {
	Query   url.Values
	Filter  EventFilter
	Events  []EventSummary
	NextURL string
}

func (a *Admin) eventsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	d := a.data(r, "Events")
	q := r.URL.Query()
	v := eventsView{Query: q}
	f := EventFilter{EventID: q.Get("event_id"), Source: q.Get("source"), Type: q.Get("type")}
	var err error
	if f.From, err = parseTime(q.Get("from")); err != nil {
		d.Errors = append(d.Errors, "from: "+err.Error())
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		d.Errors = append(d.Errors, "until: "+err.Error())
	}
	if b := q.Get("before"); b != "" {
		if f.Before, err = strconv.ParseInt(b, 10, 64); err != nil {
			d.Errors = append(d.Errors, "before: not an offset")
		}
	}
	switch p := q.Get("pipeline"); {
	case p != "" && !slices.Contains(a.pipelineNames(), p):
		d.Errors = append(d.Errors, "pipeline "+strconv.Quote(p)+" is not configured")
	case p != "":
		f.Pipelines = []string{p}
	case f.EventID != "":
		f.Pipelines = a.pipelineNames() // an id is looked up in every pipeline
	case len(a.cfg.Pipelines) > 0:
		f.Pipelines = []string{a.cfg.Pipelines[0].Name}
		q.Set("pipeline", f.Pipelines[0])
	}
	v.Filter = f
	if off := a.topicsNotInDatabase(f.Pipelines); len(off) > 0 {
		// The table may hold events of an earlier run on PostgreSQL: none
		// of them is this pipeline's now.
		d.Errors = append(d.Errors, notSearchable(off))
		f.Pipelines = nil
	}
	if len(d.Errors) == 0 && len(f.Pipelines) > 0 {
		var next int64
		v.Events, next, err = SearchEvents(ctx, a.cfg.Pool, f)
		d.Errors.add(err)
		if next > 0 {
			nq := maps.Clone(q)
			nq.Set("before", strconv.FormatInt(next, 10))
			v.NextURL = "/events?" + nq.Encode()
		}
	}
	d.Page = v
	a.render(w, "events", d)
}

// topicsNotInDatabase are those of pipelines whose topic is not kept in
// PostgreSQL (on NATS JetStream: their PipelineInfo has a Depth of its own).
func (a *Admin) topicsNotInDatabase(pipelines []string) []string {
	var off []string
	for _, p := range a.cfg.Pipelines {
		if p.Depth != nil && slices.Contains(pipelines, p.Name) {
			off = append(off, p.Name)
		}
	}
	return off
}

// notSearchable says plainly why the event pages show nothing for pipelines.
func notSearchable(pipelines []string) string {
	return "The events of " + strings.Join(pipelines, ", ") + " are kept in NATS JetStream, which the event pages cannot read " +
		"(they read topics kept in PostgreSQL). Delivery attempts are in the database either way: " +
		"the overview lists the latest, and `tributary deliveries list --event ID` finds an event's."
}

type sinkAttempts struct {
	Sink     string
	Attempts []store.Attempt
}

type eventView struct {
	Event    Event
	Payload  string
	Metadata [][2]string
	Sinks    []sinkAttempts
}

func (a *Admin) eventPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	pipeline := r.PathValue("pipeline")
	offset, err := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err != nil || !slices.Contains(a.pipelineNames(), pipeline) {
		http.Error(w, "no such event: want /events/<configured pipeline>/<offset>", http.StatusNotFound)
		return
	}
	if off := a.topicsNotInDatabase([]string{pipeline}); len(off) > 0 {
		http.Error(w, notSearchable(off), http.StatusNotFound)
		return
	}
	e, err := GetEvent(ctx, a.cfg.Pool, pipeline, offset)
	if errors.Is(err, ErrEventNotFound) {
		http.Error(w, err.Error()+" (pruned, or never stored)", http.StatusNotFound)
		return
	}
	d := a.data(r, "Event "+e.EventID)
	d.Errors.add(err)
	for i := range e.Attempts {
		at := &e.Attempts[i]
		at.Endpoint = a.redact.Text(webhook.RedactURL(at.Endpoint))
		at.Error, at.ResponseBody = a.redact.Text(at.Error), a.redact.Text(at.ResponseBody)
		// The sink redacted them before storing; again here, for rows of
		// sinks that do not, and for secrets only the console knows.
		for k, v := range at.RequestHeaders {
			if secretKey.MatchString(k) {
				v = redacted
			}
			at.RequestHeaders[k] = a.redact.Text(v)
		}
	}
	for i := range e.SeenBy {
		e.SeenBy[i].Source = a.redact.Text(e.SeenBy[i].Source)
	}
	e.EventID, e.Source, e.Type = a.redact.Text(e.EventID), a.redact.Text(e.Source), a.redact.Text(e.Type)
	v := eventView{Event: e, Payload: a.redact.Payload(e.Payload), Metadata: a.redact.Metadata(e.Metadata)}
	// Every configured sink of the pipeline, attempted or not (filtered out
	// or not reached yet), then any sink the log knows that is not.
	seen := map[string]int{}
	for _, p := range a.cfg.Pipelines {
		if p.Name == pipeline {
			for _, s := range p.Sinks {
				seen[s.Name] = len(v.Sinks)
				v.Sinks = append(v.Sinks, sinkAttempts{Sink: s.Name})
			}
		}
	}
	for _, at := range e.Attempts {
		i, ok := seen[at.Sink]
		if !ok {
			i = len(v.Sinks)
			seen[at.Sink] = i
			v.Sinks = append(v.Sinks, sinkAttempts{Sink: at.Sink})
		}
		v.Sinks[i].Attempts = append(v.Sinks[i].Attempts, at)
	}
	d.Page = v
	a.render(w, "event", d)
}

func (a *Admin) resend(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	pipeline, sink := r.PathValue("pipeline"), r.PostFormValue("sink")
	offset, err := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	if err != nil || !a.hasSink(pipeline, sink) {
		http.Error(w, "bad resend: want a configured pipeline, its sink (form field sink) and an offset", http.StatusBadRequest)
		return
	}
	back := "/events/" + url.PathEscape(pipeline) + "/" + strconv.FormatInt(offset, 10)
	flash := "Resent to " + sink + ": it is due now in the sink's retry queue; its attempt appears below within seconds."
	if err := Resend(r.Context(), a.cfg.Pool, pipeline, sink, offset, requester(r), ""); err != nil {
		a.cfg.Logger.Error("Resend from the admin page failed", err, watermill.LogFields{"pipeline": pipeline, "sink": sink, "offset": offset})
		flash = "Resend to " + sink + " failed: " + a.redact.Text(err.Error())
	} else {
		a.cfg.Logger.Info("Event resent from the admin page", watermill.LogFields{"pipeline": pipeline, "sink": sink, "offset": offset, "by": requester(r)})
	}
	http.Redirect(w, r, a.flashURL(back, flash), http.StatusSeeOther)
}

type endpointRow struct {
	Pipeline, Sink, Type string
	// State is healthy, breaker open, disabled, or idle (no attempt in the
	// window and not disabled).
	State    string
	Endpoint webhook.EndpointState
	HasState bool
	Stats    store.SinkStats
}

func (a *Admin) endpointsPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	d := a.data(r, "Endpoints")
	stats, err := store.SinkStatsSince(ctx, a.cfg.Pool, time.Now().Add(-time.Hour))
	d.Errors.add(err)
	states, err := a.endpoints.List(ctx, webhook.EndpointFilter{})
	d.Errors.add(err)
	byKey := map[[2]string]webhook.EndpointState{}
	for _, s := range states {
		byKey[[2]string{s.Pipeline, s.Sink}] = s
	}
	var rows []endpointRow
	add := func(p, s, typ string) {
		k := [2]string{p, s}
		row := endpointRow{Pipeline: p, Sink: s, Type: typ, Stats: stats[k]}
		row.Endpoint, row.HasState = byKey[k]
		row.Endpoint.Endpoint = a.redact.Text(webhook.RedactURL(row.Endpoint.Endpoint))
		row.Endpoint.Reason = a.redact.Text(row.Endpoint.Reason)
		switch {
		case row.HasState && row.Endpoint.State == webhook.StateDisabled:
			row.State = "disabled"
		case row.Stats.LastOutcome == string(deliverylog.OutcomeCircuitOpen) && time.Since(row.Stats.LastAt) < 2*time.Minute:
			row.State = "breaker open"
		case row.Stats.Attempts == 0:
			row.State = "idle"
		default:
			row.State = "healthy"
		}
		delete(byKey, k)
		rows = append(rows, row)
	}
	for _, p := range a.cfg.Pipelines {
		for _, s := range p.Sinks {
			add(p.Name, s.Name, s.Type)
		}
	}
	for _, s := range states { // registered by a sink this process does not run
		if _, ok := byKey[[2]string{s.Pipeline, s.Sink}]; ok {
			add(s.Pipeline, s.Sink, "webhook")
		}
	}
	d.Page = struct {
		Rows  []endpointRow
		Since string
	}{rows, time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04")}
	a.render(w, "endpoints", d)
}

type bulkView struct {
	Pipeline, Sink, Since string
	Events                []EventSummary
	Max                   int
}

func (a *Admin) bulkPreview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	q := r.URL.Query()
	pipeline, sink := q.Get("pipeline"), q.Get("sink")
	since, err := parseTime(q.Get("since"))
	if err != nil || since.IsZero() || !a.hasSink(pipeline, sink) {
		http.Error(w, "bad bulk resend: want a configured pipeline and sink and since (2006-01-02T15:04, UTC)", http.StatusBadRequest)
		return
	}
	d := a.data(r, "Resend failed events")
	v := bulkView{Pipeline: pipeline, Sink: sink, Since: since.UTC().Format(time.RFC3339), Max: MaxBulkResend}
	v.Events, err = FailedSince(ctx, a.cfg.Pool, pipeline, sink, since)
	d.Errors.add(err)
	for i := range v.Events {
		v.Events[i].EventID = a.redact.Text(v.Events[i].EventID)
	}
	d.Page = v
	a.render(w, "bulk", d)
}

func (a *Admin) bulkResend(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	pipeline, sink := r.PostFormValue("pipeline"), r.PostFormValue("sink")
	since, err := parseTime(r.PostFormValue("since"))
	if err != nil || since.IsZero() || !a.hasSink(pipeline, sink) || r.PostFormValue("confirm") != "yes" {
		http.Error(w, "bad bulk resend: want a configured pipeline and sink, since, and confirm=yes from the confirmation page", http.StatusBadRequest)
		return
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bulkID := "bulk-" + base64.RawURLEncoding.EncodeToString(b)
	n, err := BulkResend(r.Context(), a.cfg.Pool, pipeline, sink, since, requester(r), bulkID)
	flash := "Resent " + strconv.Itoa(n) + " failed events to " + pipeline + "/" + sink + " (" + bulkID + ")."
	if err != nil {
		a.cfg.Logger.Error("Bulk resend from the admin page failed", err, watermill.LogFields{"pipeline": pipeline, "sink": sink})
		flash = "Bulk resend to " + pipeline + "/" + sink + " failed, nothing resent: " + a.redact.Text(err.Error())
	} else {
		a.cfg.Logger.Info("Failed events resent from the admin page", watermill.LogFields{
			"pipeline": pipeline, "sink": sink, "events": n, "bulk_id": bulkID, "by": requester(r)})
	}
	http.Redirect(w, r, a.flashURL("/endpoints", flash), http.StatusSeeOther)
}

// redactOverview hides configured secrets in what the overview shows from
// the delivery log and the poison queue (errors and reasons quote bodies).
func (a *Admin) redactOverview(d *pageData) {
	for i := range d.Attempts {
		d.Attempts[i].Error = a.redact.Text(d.Attempts[i].Error)
		d.Attempts[i].EventID = a.redact.Text(d.Attempts[i].EventID)
	}
	for i := range d.Poison {
		d.Poison[i].Reason = a.redact.Text(d.Poison[i].Reason)
		d.Poison[i].EventID = a.redact.Text(d.Poison[i].EventID)
	}
	for i := range d.Endpoints {
		d.Endpoints[i].Reason = a.redact.Text(d.Endpoints[i].Reason)
		d.Endpoints[i].Endpoint = a.redact.Text(webhook.RedactURL(d.Endpoints[i].Endpoint)) // stored redacted; never trust it blindly
	}
	for i := range d.Lanes.Held {
		d.Lanes.Held[i].Key = a.redact.Text(d.Lanes.Held[i].Key)
		d.Lanes.Held[i].LastError = a.redact.Text(d.Lanes.Held[i].LastError)
	}
	// A source's reason for stopping may quote a provider's answer.
	for _, p := range d.Pipelines {
		for i := range p.Sources {
			p.Sources[i].Reason = a.redact.Text(p.Sources[i].Reason)
		}
	}
	for i := range d.Errors {
		d.Errors[i] = a.redact.Text(d.Errors[i])
	}
}

// eventLink is where a row that recorded a message (an attempt, a poison
// record) points for its event: the event page, or, when there is none, a
// note that says why.
type eventLink struct{ URL, Note string }

// shownEvent is a row's event as the "eventref" template shows it: its
// link or note, and its id as displayed (redacted).
type shownEvent struct {
	eventLink
	EventID string
}

// eventLinks finds the event page of each ref, by pipeline and message
// uuid. A pipeline on NATS JetStream has no event pages; one this
// instance's file does not run has none here; a PostgreSQL topic prunes an
// event Retention after every sink is done with it.
func (a *Admin) eventLinks(ctx context.Context, refs []messageRef) (map[string]map[string]eventLink, error) {
	out := map[string]map[string]eventLink{}
	set := func(r messageRef, l eventLink) {
		if out[r.Pipeline] == nil {
			out[r.Pipeline] = map[string]eventLink{}
		}
		out[r.Pipeline][r.UUID] = l
	}
	var inDB []messageRef
	for _, r := range refs {
		switch {
		case !slices.Contains(a.pipelineNames(), r.Pipeline):
			set(r, eventLink{Note: "not a pipeline of this instance's file"})
		case len(a.topicsNotInDatabase([]string{r.Pipeline})) > 0:
			set(r, eventLink{Note: "no event page: kept in NATS JetStream"})
		default:
			set(r, eventLink{Note: "no longer stored"})
			inDB = append(inDB, r)
		}
	}
	in := make([]store.MessageRef, len(inDB))
	for i, r := range inDB {
		in[i] = store.MessageRef{Topic: router.Topic(r.Pipeline), EventID: r.EventID, UUID: r.UUID}
	}
	offsets, err := store.MessageOffsets(ctx, a.cfg.Pool, in)
	for i, off := range offsets {
		set(inDB[i], eventLink{URL: "/events/" + url.PathEscape(inDB[i].Pipeline) + "/" + strconv.FormatInt(off, 10)})
	}
	return out, err
}
