package ops

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tributary-dev/tributary/components"
	"github.com/tributary-dev/tributary/internal/httpauth"
	"github.com/tributary-dev/tributary/middleware"
	"github.com/tributary-dev/tributary/router"
	"github.com/tributary-dev/tributary/router/leader"
	"github.com/tributary-dev/tributary/router/pgtopic"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
	"github.com/tributary-dev/tributary/sinks/webhook"
	"github.com/tributary-dev/tributary/store"
)

//go:embed templates/*.html
var templates embed.FS

// pageFuncs are the template functions of every page, the admin overview's
// and the console's.
var pageFuncs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05.000")
	},
	"dec": func(n int64) int64 { return n - 1 },
	"pct": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + "%" },
	"ms":  func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " ms" },
	// eventref is what the "eventref" template shows for a row's event:
	// the link (or note) eventLinks found, with the id as displayed.
	"eventref": func(pages map[string]map[string]eventLink, pipeline, uuid, id string) shownEvent {
		return shownEvent{pages[pipeline][uuid], id}
	},
}

var adminPage = template.Must(template.New("admin.html").Funcs(pageFuncs).ParseFS(templates, "templates/admin.html", "templates/parts.html"))

// AdminConfig configures the admin page.
type AdminConfig struct {
	Pool      *pgxpool.Pool
	Pipelines []PipelineInfo
	// Token, when set, is required: as a Bearer header, or once as ?token=
	// which sets an HttpOnly cookie. Required when not bound to loopback.
	Token string
	// AllowedHosts are the host names (without port) the pages are served
	// under besides loopback names and IP addresses, e.g. the name of the
	// host behind which the console runs; any other Host is refused with
	// 421, which stops DNS rebinding (see hostGuard).
	AllowedHosts []string
	Logger       watermill.LoggerAdapter
	// Gatherer supplies source state and filtered counts: the registry given
	// to router.Config.Metrics. Nil: the page shows neither.
	Gatherer prometheus.Gatherer
	// Sources, when set, marks the sources that stopped for good as failed,
	// with their reason.
	Sources SourceStates
	// Instance, when set, returns this instance's id (the page marks it
	// among the instances sharing the database).
	Instance func() string
	// Secrets are values no page may show (webhook secrets, tokens; the
	// admin token is added), wherever they appear. Values of keys that look
	// like credentials (token, secret, password …) are hidden too.
	Secrets []string
	// LiveInterval is how often the live page's stream sends; 2s when zero.
	LiveInterval time.Duration
	// DepthSampleEvery is how often queue depths are sampled for the live
	// page's depth chart; 10s when zero.
	DepthSampleEvery time.Duration
	// Poison is the poison queue whose replay goes through the pipelines'
	// backend; router.NewPoisonQueue(Pool) (Postgres) when nil.
	Poison *router.PoisonQueue
	// SubscriptionTests returns the test-request settings of a
	// subscriptions sink (its SSRF guard) for the endpoints API's test;
	// nil: the guard on.
	SubscriptionTests func(pipeline, sink string) subscriptions.TestOptions
	// Backend says where the topics live, for the overview, e.g.
	// "PostgreSQL" or "NATS JetStream at 127.0.0.1:4222" (no credentials).
	Backend string
}

// Admin serves the admin page: pipelines and their sources' state, queue
// depths, webhook endpoints with enable/disable buttons, recent delivery
// attempts and the poison queue with replay buttons.
type Admin struct {
	cfg       AdminConfig
	csrfKey   []byte
	poison    *router.PoisonQueue
	endpoints *webhook.PostgresEndpoints
	redact    Redactor
	depths    depthHistory
	live      liveCache
	// closed ends the live streams (Close), which a server's Shutdown
	// would otherwise wait for.
	closed    chan struct{}
	closeOnce sync.Once
}

// NewAdmin returns the admin handler.
func NewAdmin(cfg AdminConfig) (*Admin, error) {
	if cfg.Pool == nil {
		return nil, errors.New("admin: Pool is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = watermill.NopLogger{}
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if cfg.LiveInterval <= 0 {
		cfg.LiveInterval = 2 * time.Second
	}
	if cfg.DepthSampleEvery <= 0 {
		cfg.DepthSampleEvery = 10 * time.Second
	}
	poison := cfg.Poison
	if poison == nil {
		poison = router.NewPoisonQueue(cfg.Pool)
	}
	return &Admin{cfg: cfg, csrfKey: key, poison: poison, endpoints: webhook.NewPostgresEndpoints(cfg.Pool),
		redact: NewRedactor(append([]string{cfg.Token}, cfg.Secrets...)), closed: make(chan struct{})}, nil
}

const cookieName = "tributary_admin"

// Handler returns the page's routes behind token auth and cross-origin
// protection (state-changing requests must come from the page itself).
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.page)
	mux.HandleFunc("POST /poison/{id}/replay", a.replay)
	mux.HandleFunc("POST /endpoints/state", a.setEndpointState)
	a.consoleRoutes(mux)
	a.subscriptionRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return newHostGuard(a.cfg.AllowedHosts).wrap(a.auth(http.NewCrossOriginProtection().Handler(mux)))
}

// flashURL is path with msg as the flash the page it leads to shows, signed
// so that a link from elsewhere cannot make a page say what it likes.
func (a *Admin) flashURL(path, msg string) string {
	return path + "?flash=" + url.QueryEscape(msg) + "&fs=" + a.sign("flash:"+msg)
}

// flash is the request's flash message if its signature holds, else "".
func (a *Admin) flash(r *http.Request) string {
	q := r.URL.Query()
	msg := q.Get("flash")
	if msg == "" || !hmac.Equal([]byte(q.Get("fs")), []byte(a.sign("flash:"+msg))) {
		return ""
	}
	return msg
}

func (a *Admin) sign(s string) string {
	m := hmac.New(sha256.New, a.csrfKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func (a *Admin) cookieValue() string { return a.sign("session:" + a.cfg.Token) }

func (a *Admin) csrfToken() string { return a.sign("csrf") }

// checkCSRF checks a form's CSRF token, answering 403 when it is wrong.
func (a *Admin) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(a.csrfToken())) != 1 {
		http.Error(w, "forbidden: stale or missing form token; reload the page", http.StatusForbidden)
		return false
	}
	return true
}

func (a *Admin) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cfg.Token == "" || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if t := r.URL.Query().Get("token"); t != "" && r.Method == http.MethodGet {
			if subtle.ConstantTimeCompare([]byte(t), []byte(a.cfg.Token)) == 1 {
				http.SetCookie(w, &http.Cookie{Name: cookieName, Value: a.cookieValue(), Path: "/",
					HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
				// Drop the token from the address bar and history.
				q := r.URL.Query()
				q.Del("token")
				u := *r.URL
				u.RawQuery = q.Encode()
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
		}
		ok := false
		if t, isBearer := httpauth.Bearer(r.Header.Get("Authorization")); isBearer {
			ok = subtle.ConstantTimeCompare([]byte(t), []byte(a.cfg.Token)) == 1
		}
		if c, err := r.Cookie(cookieName); err == nil {
			ok = ok || subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.cookieValue())) == 1
		}
		if !ok {
			http.Error(w, "unauthorized: open /?token=<admin token> once, or send Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type sourceView struct {
	ComponentInfo
	Up          string
	LastSuccess time.Time
	// Detail is what the source's own metrics tell (socket state, cursor,
	// events, errors), e.g. "socket connected · 3 reconnects · 120 events".
	Detail string
	// Reason is why a failed source stopped for good.
	Reason string
	// Leader is the instance running the source ("" when none does now;
	// webhookin runs on every instance); Here marks this instance.
	Leader string
	Here   bool
	Shared bool
}

type pipelineView struct {
	Name    string
	Sources []sourceView
	Sinks   []ComponentInfo
}

// depthRow is a sink's depths and how many events its filter turned down
// since this process started (tributary_events_filtered_total): filtered
// events are acked, not failed, so they appear only here.
type depthRow struct {
	Depth
	Filtered int64
}

type pageData struct {
	Pipelines  []pipelineView
	Depths     []depthRow
	Attempts   []store.Attempt
	Poison     []middleware.PoisonRecord
	PoisonMore int64
	// Quarantined counts the events in the ingest quarantine.
	Quarantined int64
	Endpoints   []webhook.EndpointState
	CSRF        string
	Flash       string
	Errors      errorList
	Now         time.Time
	Instances   []leader.Instance
	Self        string
	// Lanes are ordered sinks' lanes and held keys.
	Lanes   pgtopic.LaneStatus
	Backend string
	// EventPages link the attempts' and poison records' events to their
	// event pages, by pipeline and message uuid (eventLinks).
	EventPages map[string]map[string]eventLink
}

func (a *Admin) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	d := pageData{CSRF: a.csrfToken(), Flash: a.flash(r), Now: time.Now(), Backend: a.cfg.Backend}
	states := a.sourceState()
	if a.cfg.Instance != nil {
		d.Self = a.cfg.Instance()
	}
	status, err := leader.ReadStatus(ctx, a.cfg.Pool)
	d.Errors.add(err)
	d.Instances = status.Instances
	d.Lanes, err = pgtopic.ReadLanes(ctx, a.cfg.Pool)
	d.Errors.add(err)
	for _, p := range a.cfg.Pipelines {
		pv := pipelineView{Name: p.Name, Sinks: p.Sinks}
		for _, s := range p.Sources {
			st := states[p.Name+"/"+s.Name]
			sv := sourceView{ComponentInfo: s, Up: "unknown", LastSuccess: st.last, Detail: st.detail(),
				Leader: status.Leader(router.LeaseName(p.Name, s.Name)), Shared: components.RunsOnEveryInstance(s.Type)}
			sv.Here = sv.Leader != "" && sv.Leader == d.Self
			if st.hasUp {
				sv.Up = map[bool]string{true: "up", false: "down"}[st.up == 1]
			}
			if !sv.Shared && sv.Leader != "" && !sv.Here {
				// Another instance runs it: this one's metrics say nothing
				// of it (it would read "down").
				sv.Up = "elsewhere"
			}
			if a.cfg.Sources != nil {
				if f, ok := sourceFailure(a.cfg.Sources, p.Name, s.Name); ok {
					sv.Up, sv.Reason = "failed", f.Reason
				}
			}
			pv.Sources = append(pv.Sources, sv)
		}
		d.Pipelines = append(d.Pipelines, pv)
	}
	depths, err := QueueDepths(ctx, a.cfg.Pool, a.cfg.Pipelines)
	d.Errors.add(err)
	filtered := a.filteredCounts()
	for _, dp := range depths {
		d.Depths = append(d.Depths, depthRow{Depth: dp, Filtered: int64(filtered[[2]string{dp.Pipeline, dp.Sink}])})
	}
	d.Attempts, err = store.Attempts(ctx, a.cfg.Pool, store.AttemptFilter{Limit: 25})
	d.Errors.add(err)
	d.Endpoints, err = a.endpoints.List(ctx, webhook.EndpointFilter{})
	d.Errors.add(err)
	d.Poison, err = a.poison.List(ctx, router.PoisonFilter{Limit: 50})
	d.Errors.add(err)
	if n, err := a.poison.Count(ctx, router.PoisonFilter{}); err == nil && n > int64(len(d.Poison)) {
		d.PoisonMore = n - int64(len(d.Poison))
	}
	d.Quarantined, err = router.NewIngestQuarantine(a.cfg.Pool).Count(ctx, router.QuarantineFilter{})
	d.Errors.add(err)
	refs := attemptRefs(d.Attempts)
	for _, p := range d.Poison {
		refs = append(refs, messageRef{Pipeline: p.Pipeline, EventID: p.EventID, UUID: p.MessageUUID})
	}
	d.EventPages, err = a.eventLinks(ctx, refs)
	d.Errors.add(err)
	a.redactOverview(&d) // after eventLinks, which looks the ids up as stored
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	if err := adminPage.Execute(w, d); err != nil {
		a.cfg.Logger.Error("Rendering admin page failed", err, nil)
	}
}

// sourceMetrics is what the metrics registry knows about one source (by its
// "source" label, which every source type sets to its name).
type sourceMetrics struct {
	up             float64
	hasUp          bool
	last           time.Time
	socketState    float64 // tributary_socketio_connection_state
	hasSocketState bool
	reconnects     float64
	events         float64 // acked (etagpoll, batchfeed) or received (socketio)
	hasEvents      bool
	batches        float64
	cursor         time.Time // etagpoll: largest createdAt stored
	errors         float64
}

// socketStates names tributary_socketio_connection_state's values.
var socketStates = []string{"idle", "connecting", "connected", "reconnecting", "closed"}

func (m sourceMetrics) detail() string {
	var parts []string
	if m.hasSocketState {
		state := "state " + strconv.FormatFloat(m.socketState, 'f', -1, 64)
		if i := int(m.socketState); float64(i) == m.socketState && i >= 0 && i < len(socketStates) {
			state = socketStates[i]
		}
		parts = append(parts, "socket "+state, plural(m.reconnects, "reconnect"))
	}
	if !m.cursor.IsZero() {
		parts = append(parts, "cursor "+m.cursor.UTC().Format(time.RFC3339))
	}
	if m.batches > 0 {
		parts = append(parts, plural(m.batches, "batch"))
	}
	if m.hasEvents {
		parts = append(parts, plural(m.events, "event"))
	}
	if m.errors > 0 {
		parts = append(parts, plural(m.errors, "error"))
	}
	return strings.Join(parts, " · ")
}

func plural(n float64, unit string) string {
	s := strconv.FormatFloat(n, 'f', -1, 64) + " " + unit
	if n != 1 {
		if strings.HasSuffix(unit, "ch") {
			return s + "es"
		}
		return s + "s"
	}
	return s
}

// sourceState reads each source's state, by "pipeline/source", from the
// metrics the sources keep current (every type's and its own).
func (a *Admin) sourceState() map[string]sourceMetrics {
	out := map[string]sourceMetrics{}
	families, err := a.cfg.Gatherer.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			source := label(m, "source")
			if source == "" {
				continue
			}
			source = label(m, "pipeline") + "/" + source
			st := out[source]
			gauge, counter := m.GetGauge().GetValue(), m.GetCounter().GetValue()
			switch f.GetName() {
			case "tributary_source_up":
				st.up, st.hasUp = gauge, true
			case "tributary_source_last_success_timestamp_seconds":
				if gauge > 0 {
					st.last = time.Unix(0, int64(gauge*1e9))
				}
			case "tributary_socketio_connection_state":
				st.socketState, st.hasSocketState = gauge, true
			case "tributary_socketio_reconnects_total":
				st.reconnects = counter
			case "tributary_socketio_events_total", "tributary_etagpoll_events_acked_total", "tributary_batchfeed_notifications_acked_total":
				st.events, st.hasEvents = st.events+counter, true
			case "tributary_batchfeed_batches_completed_total":
				st.batches += counter
			case "tributary_etagpoll_cursor_timestamp_seconds":
				if gauge > 0 {
					st.cursor = time.Unix(int64(gauge), 0)
				}
			case "tributary_source_errors_total":
				st.errors += counter
			default:
				continue
			}
			out[source] = st
		}
	}
	return out
}

// filteredCounts reads tributary_events_filtered_total by pipeline and sink.
func (a *Admin) filteredCounts() map[[2]string]float64 {
	out := map[[2]string]float64{}
	families, err := a.cfg.Gatherer.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "tributary_events_filtered_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			out[[2]string{label(m, "pipeline"), label(m, "sink")}] += m.GetCounter().GetValue()
		}
	}
	return out
}

// label is m's value of label name ("" when m has none).
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (a *Admin) replay(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad poison id", http.StatusBadRequest)
		return
	}
	n := strconv.FormatInt(id, 10)
	flash := "Replayed poison message #" + n + "; it is back in its sink's delivery queue."
	switch err := a.poison.Replay(r.Context(), id); {
	case errors.Is(err, router.ErrNotFound):
		flash = "Poison message #" + n + " is gone (already replayed or purged)."
	case err != nil:
		a.cfg.Logger.Error("Replay from admin page failed", err, watermill.LogFields{"poison_id": id})
		flash = "Replay of #" + n + " failed: " + a.redact.Text(err.Error())
	default:
		a.cfg.Logger.Info("Poison message replayed from the admin page", watermill.LogFields{"poison_id": id})
	}
	http.Redirect(w, r, a.flashURL("/", flash), http.StatusSeeOther)
}

// setEndpointState enables or disables a webhook endpoint (form fields
// pipeline, sink, state) for every instance; running sinks apply it within
// their state refresh.
func (a *Admin) setEndpointState(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	pipeline, sink, state := r.PostFormValue("pipeline"), r.PostFormValue("sink"), webhook.State(r.PostFormValue("state"))
	by := "admin page"
	var err error
	switch state {
	case webhook.StateEnabled:
		_, err = a.endpoints.Enable(r.Context(), pipeline, sink, by)
	case webhook.StateDisabled:
		_, err = a.endpoints.Disable(r.Context(), pipeline, sink, "disabled on the admin page", by)
	default:
		http.Error(w, "bad state: want enabled or disabled", http.StatusBadRequest)
		return
	}
	name := pipeline + "/" + sink
	flash := "Endpoint " + name + " is " + string(state) + "; running sinks apply it within a few seconds."
	if state == webhook.StateEnabled {
		flash += " Replay what it poisoned meanwhile below."
	}
	switch {
	case errors.Is(err, webhook.ErrEndpointNotFound):
		flash = "Endpoint " + name + " is not registered."
	case err != nil:
		a.cfg.Logger.Error("Changing an endpoint's state from the admin page failed", err,
			watermill.LogFields{"endpoint_pipeline": pipeline, "endpoint_sink": sink})
		flash = "Changing " + name + " failed: " + a.redact.Text(err.Error())
	default:
		a.cfg.Logger.Info("Endpoint state changed from the admin page", watermill.LogFields{
			"endpoint_pipeline": pipeline, "endpoint_sink": sink, "state": string(state)})
	}
	back := "/"
	if r.PostFormValue("back") == "endpoints" { // the endpoints page's buttons
		back = "/endpoints"
	}
	http.Redirect(w, r, a.flashURL(back, flash), http.StatusSeeOther)
}
