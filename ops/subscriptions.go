package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/sinks/deliverylog"
	"github.com/tributary-dev/tributary/sinks/subscriptions"
)

// The endpoints API (docs/endpoints-api.md): JSON under /api/endpoints,
// behind the admin token, for a product's outbound-webhook page. Credentials
// are write-only: responses show them redacted (a generated secret once).
func (a *Admin) subscriptionRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/endpoints", a.apiListEndpoints)
	mux.HandleFunc("POST /api/endpoints", a.apiCreateEndpoint)
	mux.HandleFunc("GET /api/endpoints/{id}", a.apiGetEndpoint)
	mux.HandleFunc("PATCH /api/endpoints/{id}", a.apiUpdateEndpoint)
	mux.HandleFunc("DELETE /api/endpoints/{id}", a.apiDeleteEndpoint)
	mux.HandleFunc("POST /api/endpoints/{id}/rotate", a.apiRotateSecret)
	mux.HandleFunc("POST /api/endpoints/{id}/test", a.apiTestEndpoint)
	mux.HandleFunc("GET /api/endpoints/{id}/queue", a.apiEndpointQueue)
	mux.HandleFunc("GET /api/endpoints/{id}/attempts", a.apiEndpointAttempts)
	mux.HandleFunc("POST /api/endpoints/{id}/replay", a.apiReplayEndpoint)
	a.subscriptionPages(mux)
}

// apiEndpoint is an endpoint as the API shows it: redacted, with its queue.
type apiEndpoint struct {
	subscriptions.Endpoint
	Queue map[subscriptions.DeliveryState]int `json:"queue,omitempty"`
	// GeneratedSecret is a secret the request asked to generate, shown
	// this once.
	GeneratedSecret string `json:"generated_secret,omitempty"`
}

// fieldError is one validation problem, named by its JSON field.
type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type apiError struct {
	Error  string       `json:"error"`
	Fields []fieldError `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// answer writes v with status, or, when err is not nil, answers err
// (apiFail).
func (a *Admin) answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		a.apiFail(w, err)
		return
	}
	writeJSON(w, status, v)
}

// apiFail answers err: 422 with the fields for a validation error, 404 for
// an unknown endpoint, 500 (logged, not shown) otherwise.
func (a *Admin) apiFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, subscriptions.ErrInvalid):
		body := apiError{Error: "invalid endpoint", Fields: fieldErrors(err)}
		if len(body.Fields) == 0 {
			body.Error = a.redact.Text(err.Error())
		}
		writeJSON(w, http.StatusUnprocessableEntity, body)
	case errors.Is(err, subscriptions.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{Error: "no such endpoint"})
	default:
		a.cfg.Logger.Error("Endpoints API request failed", err, nil)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal error (see the server log)"})
	}
}

// fieldErrors are the options err finds fault with, by JSON field.
func fieldErrors(err error) []fieldError {
	opts, _ := tributary.OptionErrors(err)
	var out []fieldError
	for _, o := range opts {
		out = append(out, fieldError{Field: o.Key, Message: o.Msg})
	}
	return out
}

// decode reads a JSON body into v strictly: an unknown field or a wrong
// type is a 400 naming it.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg = fmt.Sprintf("field %q: want a %s", te.Field, te.Type)
		}
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad JSON body: " + strings.TrimPrefix(msg, "json: ")})
		return false
	}
	return true
}

func (a *Admin) subscriptionsStore() *subscriptions.Store { return subscriptions.NewStore(a.cfg.Pool) }

func (a *Admin) apiListEndpoints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eps, err := a.subscriptionsStore().List(r.Context(), subscriptions.Filter{Pipeline: q.Get("pipeline"), Sink: q.Get("sink"), Tenant: q.Get("tenant")})
	if err != nil {
		a.apiFail(w, err)
		return
	}
	out := make([]apiEndpoint, 0, len(eps))
	for _, ep := range eps {
		out = append(out, apiEndpoint{Endpoint: ep.Redacted()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

// createRequest is POST /api/endpoints's body: the endpoint's fields, and
// generate_secret to have a signing secret generated.
type createRequest struct {
	ID             string `json:"id"`
	Pipeline       string `json:"pipeline"`
	Sink           string `json:"sink"`
	GenerateSecret bool   `json:"generate_secret"`
	subscriptions.Patch
}

func (a *Admin) apiCreateEndpoint(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !decode(w, r, &req) {
		return
	}
	ep := subscriptions.Endpoint{ID: req.ID, Pipeline: req.Pipeline, Sink: req.Sink}
	req.Patch.Enabled, req.Patch.DisabledReason = nil, nil
	req.Patch.Apply(&ep)
	generated := ""
	if req.GenerateSecret {
		generated = subscriptions.NewSecret()
		ep.Secrets = append([]subscriptions.Secret{{Secret: generated}}, ep.Secrets...)
	}
	out, err := a.subscriptionsStore().Create(r.Context(), ep, a.apiActor(r))
	a.answer(w, http.StatusCreated, apiEndpoint{Endpoint: out.Redacted(), GeneratedSecret: generated}, err)
}

func (a *Admin) apiGetEndpoint(w http.ResponseWriter, r *http.Request) {
	ep, err := a.subscriptionsStore().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.apiFail(w, err)
		return
	}
	counts, err := a.subscriptionsStore().Counts(r.Context(), ep.ID)
	a.answer(w, http.StatusOK, apiEndpoint{Endpoint: ep.Redacted(), Queue: counts}, err)
}

func (a *Admin) apiUpdateEndpoint(w http.ResponseWriter, r *http.Request) {
	var p subscriptions.Patch
	if !decode(w, r, &p) {
		return
	}
	ep, err := a.subscriptionsStore().Update(r.Context(), r.PathValue("id"), p, a.apiActor(r))
	a.answer(w, http.StatusOK, apiEndpoint{Endpoint: ep.Redacted()}, err)
}

func (a *Admin) apiDeleteEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := a.subscriptionsStore().Delete(r.Context(), r.PathValue("id")); err != nil {
		a.apiFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Admin) apiRotateSecret(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Secret  string `json:"secret"`
		Overlap string `json:"overlap"`
	}
	if !decode(w, r, &req) {
		return
	}
	overlap := 24 * time.Hour
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil || d < 0 {
			writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: "invalid rotation",
				Fields: []fieldError{{Field: "overlap", Message: "want a non-negative duration such as 24h"}}})
			return
		}
		overlap = d
	}
	generated := ""
	if req.Secret == "" {
		req.Secret = subscriptions.NewSecret()
		generated = req.Secret
	}
	ep, err := a.subscriptionsStore().Rotate(r.Context(), r.PathValue("id"), req.Secret, overlap, a.apiActor(r))
	a.answer(w, http.StatusOK, apiEndpoint{Endpoint: ep.Redacted(), GeneratedSecret: generated}, err)
}

func (a *Admin) apiTestEndpoint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Types []string `json:"types"`
	}
	if !decode(w, r, &req) {
		return
	}
	ep, err := a.subscriptionsStore().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.apiFail(w, err)
		return
	}
	res, err := subscriptions.Test(r.Context(), ep, req.Types, a.testOptions(ep))
	ok := len(res) > 0
	for i := range res {
		ok = ok && res[i].Verified
		res[i].Reason = a.redact.Text(res[i].Reason)
	}
	a.answer(w, http.StatusOK, map[string]any{"ok": ok, "tests": res}, err)
}

func (a *Admin) apiEndpointQueue(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	id := r.PathValue("id")
	if _, err := a.subscriptionsStore().Get(r.Context(), id); err != nil {
		a.apiFail(w, err)
		return
	}
	rows, err := a.subscriptionsStore().Queue(r.Context(), id,
		subscriptions.QueueFilter{State: subscriptions.DeliveryState(r.URL.Query().Get("state")), Limit: limit})
	if rows == nil {
		rows = []subscriptions.Delivery{}
	}
	a.answer(w, http.StatusOK, map[string]any{"deliveries": rows}, err)
}

// apiEndpointAttempts returns the endpoint's delivery log (the sink
// records its attempts under "<sink>/<endpoint id>").
func (a *Admin) apiEndpointAttempts(w http.ResponseWriter, r *http.Request) {
	ep, err := a.subscriptionsStore().Get(r.Context(), r.PathValue("id"))
	if err != nil {
		a.apiFail(w, err)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	rows, err := deliverylog.Query(r.Context(), a.cfg.Pool, deliverylog.Filter{Sink: subscriptions.LogSink(ep.Sink, ep.ID), Limit: limit})
	if rows == nil {
		rows = []deliverylog.Attempt{}
	}
	a.answer(w, http.StatusOK, map[string]any{"attempts": rows}, err)
}

func (a *Admin) apiReplayEndpoint(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Since time.Time `json:"since"` // zero (absent or null): every poisoned delivery
	}
	if !decode(w, r, &req) {
		return
	}
	n, err := a.subscriptionsStore().Replay(r.Context(), r.PathValue("id"), req.Since)
	a.answer(w, http.StatusOK, map[string]int{"queued": n}, err)
}

// testOptions are the test-request settings of ep's sink.
func (a *Admin) testOptions(ep subscriptions.Endpoint) subscriptions.TestOptions {
	if a.cfg.SubscriptionTests == nil {
		return subscriptions.TestOptions{}
	}
	return a.cfg.SubscriptionTests(ep.Pipeline, ep.Sink)
}

// apiActor names who made a change through the API, for updated_by.
func (a *Admin) apiActor(r *http.Request) string {
	return "admin api from " + r.RemoteAddr
}
