package ops

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// The console's pages for the subscriptions sinks' endpoints: the list, and
// one endpoint's page (edit, disable, rotate, test, its queue and attempts).
// Every change is a CSRF-checked form POST, through the same Store as the
// CLI and the API.
func (a *Admin) subscriptionPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /subscriptions", a.subscriptionsPage)
	mux.HandleFunc("POST /subscriptions", a.formCreateEndpoint)
	mux.HandleFunc("GET /subscriptions/{id}", a.subscriptionPage)
	mux.HandleFunc("POST /subscriptions/{id}/edit", a.formEditEndpoint)
	mux.HandleFunc("POST /subscriptions/{id}/state", a.formEndpointState)
	mux.HandleFunc("POST /subscriptions/{id}/rotate", a.formRotateSecret)
	mux.HandleFunc("POST /subscriptions/{id}/test", a.formTestEndpoint)
	mux.HandleFunc("POST /subscriptions/{id}/replay", a.formReplayEndpoint)
	mux.HandleFunc("POST /subscriptions/{id}/delete", a.formDeleteEndpoint)
}

type subscriptionsView struct {
	Endpoints []subscriptions.Endpoint
}

type subscriptionView struct {
	Endpoint    subscriptions.Endpoint // redacted
	RawURL      string                 // for the edit form: without credentials
	TypesText   string
	TestTypes   []string
	Tests       []subscriptions.TypeTest
	Generated   string
	FieldErrors []fieldError
	Counts      map[subscriptions.DeliveryState]int
	Queue       []subscriptions.Delivery
	Attempts    []deliverylog.Attempt
	// EventPages link the attempts' events to their pages (eventLinks).
	EventPages map[string]map[string]eventLink
}

func (a *Admin) subscriptionsPage(w http.ResponseWriter, r *http.Request) {
	a.showSubscriptions(w, r, a.data(r, "Subscriptions"))
}

// showSubscriptions renders the endpoint list, redacted, after d's errors.
func (a *Admin) showSubscriptions(w http.ResponseWriter, r *http.Request, d consoleData) {
	eps, err := a.subscriptionsStore().List(r.Context(), subscriptions.Filter{})
	d.Errors.add(err)
	for i := range eps {
		eps[i] = eps[i].Redacted()
	}
	d.Page = subscriptionsView{Endpoints: eps}
	a.render(w, "subscriptions", d)
}

// showEndpoint renders endpoint id's page with view's extras (a test's
// results, a generated secret, field errors).
func (a *Admin) showEndpoint(w http.ResponseWriter, r *http.Request, id string, view subscriptionView) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	store := a.subscriptionsStore()
	ep, err := store.Get(ctx, id)
	if errors.Is(err, subscriptions.ErrNotFound) {
		http.Error(w, "no such endpoint", http.StatusNotFound)
		return
	}
	d := a.data(r, "Endpoint "+id)
	d.Errors.add(err)
	view.Endpoint = ep.Redacted()
	view.RawURL = view.Endpoint.URL
	view.TypesText = strings.Join(ep.Types, ", ")
	view.TestTypes = subscriptions.TestTypes(ep)
	view.Counts, err = store.Counts(ctx, id)
	d.Errors.add(err)
	view.Queue, err = store.Queue(ctx, id, subscriptions.QueueFilter{Limit: 50})
	d.Errors.add(err)
	view.Attempts, err = deliverylog.Query(ctx, a.cfg.Pool, deliverylog.Filter{Sink: subscriptions.LogSink(ep.Sink, ep.ID), Limit: 50})
	d.Errors.add(err)
	// The sink sends the topic message's uuid.
	view.EventPages, err = a.eventLinks(ctx, attemptRefs(view.Attempts))
	d.Errors.add(err)
	for i := range view.Tests {
		view.Tests[i].Reason = a.redact.Text(view.Tests[i].Reason)
	}
	d.Page = view
	a.render(w, "subscription", d)
}

func (a *Admin) subscriptionPage(w http.ResponseWriter, r *http.Request) {
	a.showEndpoint(w, r, r.PathValue("id"), subscriptionView{})
}

// changed answers a form: back to the page with a flash, or the page again
// with the fields in error.
func (a *Admin) changed(w http.ResponseWriter, r *http.Request, id, flash string, err error) {
	switch {
	case errors.Is(err, subscriptions.ErrInvalid):
		a.showEndpoint(w, r, id, subscriptionView{FieldErrors: fieldErrors(err)})
	case err != nil:
		http.Redirect(w, r, a.flashURL("/subscriptions/"+url.PathEscape(id), "Failed: "+a.redact.Text(err.Error())), http.StatusSeeOther)
	default:
		http.Redirect(w, r, a.flashURL("/subscriptions/"+url.PathEscape(id), flash), http.StatusSeeOther)
	}
}

func splitTypes(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (a *Admin) formCreateEndpoint(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	f := r.PostFormValue
	ep := subscriptions.Endpoint{Pipeline: f("pipeline"), Sink: f("sink"), Tenant: f("tenant"), URL: f("url"),
		Method: f("method"), Types: splitTypes(f("types")), Token: f("token")}
	ep.RateLimit, _ = strconv.ParseFloat(f("rate_limit"), 64)
	generated := ""
	if f("generate_secret") != "" {
		generated = subscriptions.NewSecret()
		ep.Secrets = []subscriptions.Secret{{Secret: generated}}
	}
	out, err := a.subscriptionsStore().Create(r.Context(), ep, "console: "+requester(r))
	if err != nil {
		d := a.data(r, "Subscriptions")
		for _, f := range fieldErrors(err) {
			d.Errors = append(d.Errors, f.Field+": "+f.Message)
		}
		if len(d.Errors) == 0 {
			d.Errors.add(err)
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		a.showSubscriptions(w, r, d)
		return
	}
	// Rendered, not redirected: a generated secret must not travel in a URL.
	a.showEndpoint(w, r, out.ID, subscriptionView{Generated: generated})
}

func (a *Admin) formEditEndpoint(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	var p subscriptions.Patch
	f := r.PostFormValue
	if v := f("url"); v != "" { // blank keeps it: the page shows it redacted
		p.URL = &v
	}
	if v := splitTypes(f("types")); len(v) > 0 {
		p.Types = &v
	}
	if v := f("token"); v != "" {
		p.Token = &v
	}
	if n, err := strconv.ParseFloat(f("rate_limit"), 64); err == nil { // blank keeps it
		p.RateLimit = &n
	}
	id := r.PathValue("id")
	_, err := a.subscriptionsStore().Update(r.Context(), id, p, "console: "+requester(r))
	a.changed(w, r, id, "Saved; running sinks apply it within a few seconds.", err)
}

func (a *Admin) formEndpointState(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id, enabled := r.PathValue("id"), r.PostFormValue("enabled") == "true"
	reason := r.PostFormValue("reason")
	if !enabled && reason == "" {
		reason = "disabled on the console"
	}
	_, err := a.subscriptionsStore().SetEnabled(r.Context(), id, enabled, reason, "console: "+requester(r))
	flash := "Disabled: nothing is sent to it; its queued deliveries wait."
	if enabled {
		flash = "Enabled: its queued deliveries go out."
	}
	a.changed(w, r, id, flash, err)
}

func (a *Admin) formRotateSecret(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id := r.PathValue("id")
	overlap, err := time.ParseDuration(r.PostFormValue("overlap"))
	if err != nil || overlap < 0 {
		a.showEndpoint(w, r, id, subscriptionView{FieldErrors: []fieldError{{Field: "overlap", Message: "want a duration such as 24h"}}})
		return
	}
	secret := subscriptions.NewSecret()
	if _, err := a.subscriptionsStore().Rotate(r.Context(), id, secret, overlap, "console: "+requester(r)); err != nil {
		a.changed(w, r, id, "", err)
		return
	}
	a.showEndpoint(w, r, id, subscriptionView{Generated: secret})
}

func (a *Admin) formTestEndpoint(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id := r.PathValue("id")
	ep, err := a.subscriptionsStore().Get(r.Context(), id)
	if err != nil {
		a.changed(w, r, id, "", err)
		return
	}
	var types []string
	if t := r.PostFormValue("type"); t != "" {
		types = []string{t}
	}
	res, err := subscriptions.Test(r.Context(), ep, types, a.testOptions(ep))
	if err != nil {
		a.changed(w, r, id, "", err)
		return
	}
	a.showEndpoint(w, r, id, subscriptionView{Tests: res})
}

func (a *Admin) formReplayEndpoint(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id := r.PathValue("id")
	n, err := a.subscriptionsStore().Replay(r.Context(), id, time.Time{})
	a.changed(w, r, id, strconv.Itoa(n)+" poisoned deliveries queued again.", err)
}

func (a *Admin) formDeleteEndpoint(w http.ResponseWriter, r *http.Request) {
	if !a.checkCSRF(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := a.subscriptionsStore().Delete(r.Context(), id); err != nil {
		a.changed(w, r, id, "", err)
		return
	}
	http.Redirect(w, r, a.flashURL("/subscriptions", "Endpoint "+id+" removed."), http.StatusSeeOther)
}
