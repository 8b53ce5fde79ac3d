package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/spf13/cobra"

	"github.com/tributary-dev/tributary"
	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/routing"
)

// routeResult is what one sink would do with the event.
type routeResult struct {
	Pipeline string `json:"pipeline"`
	Sink     string `json:"sink"`
	// Outcome is deliver, filtered or error.
	Outcome string            `json:"outcome"`
	Why     string            `json:"why,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the body the sink would send (JSON when it is JSON).
	Body  json.RawMessage `json:"body,omitempty"`
	Text  string          `json:"body_text,omitempty"`
	Error string          `json:"error,omitempty"`
}

// typeFields are the payload fields the supported protocols carry an event's type in:
// the event log's and inbound webhooks' "type", Socket.IO's "topic" and the
// batch feed's "eventType".
var typeFields = []string{"type", "topic", "eventType"}

func (a *app) routeCommand() *cobra.Command {
	var (
		file, eventFile, typ, id, pipeline, source string
		meta                                       []string
	)
	cmd := &cobra.Command{
		Use:   "route -c pipeline.yaml --event event.json",
		Short: "Show which sinks would get an event and the body each would receive",
		Long: `Run every sink's filter and transform on one event, without a database or any
network: which sinks would deliver it, which would filter it out, and the exact body
and transform headers each would send (before the sink's own headers and signature).

The event file is the payload as the source hands it on ("-" reads it from
standard input). Its type is --type, else the payload's top-level "type", "topic"
or "eventType" (where the supported protocols put it); its id is --id, else the
payload's "id". Metadata a filter reads can be given with --meta key=value.

Exit 6 when a filter or transform fails on the event (it would be poisoned for that sink).`,
		Args: cobra.NoArgs,
		RunE: wrap(func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(file)
			if err != nil {
				return err
			}
			payload, err := readEvent(cmd.InOrStdin(), eventFile)
			if err != nil {
				return err
			}
			fields := map[string]any{}
			_ = json.Unmarshal(payload, &fields) // a payload that is not an object has no fields
			typeFrom := "--type"
			if typ == "" {
				typeFrom = ""
				for _, f := range typeFields {
					if s, ok := fields[f].(string); ok && s != "" {
						typ, typeFrom = s, fmt.Sprintf("the payload's %q", f)
						break
					}
				}
			}
			if id == "" {
				switch v := fields["id"].(type) {
				case string:
					id = v
				case float64:
					id = fmt.Sprint(v)
				}
			}
			if id == "" {
				id = "route-test"
			}
			extra := map[string]string{}
			for _, kv := range meta {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return codef(ExitUsage, "--meta %q: want key=value", kv)
				}
				extra[k] = v
			}
			var results []routeResult
			found := false
			for _, p := range cfg.Pipelines {
				if pipeline != "" && p.Template.Name != pipeline {
					continue
				}
				found = true
				msg := tributary.NewEventMessage(id, payload)
				if typ != "" {
					msg.Metadata.Set(tributary.MetaEventType, typ)
				}
				msg.Metadata.Set(tributary.MetaPipeline, p.Template.Name)
				if source != "" {
					msg.Metadata.Set(tributary.MetaSource, source)
				}
				for k, v := range extra {
					msg.Metadata.Set(k, v)
				}
				for i, s := range p.Template.Sinks {
					results = append(results, routeOne(p.Template.Name, s.Name, s.Filter, s.Transform, p.SinkRoutes[i], msg))
				}
			}
			if !found {
				return codef(ExitNotFound, "pipeline %q: %v", pipeline, config.ErrNoSuchComponent)
			}
			if a.json {
				if err := printJSON(a.stdout, map[string]any{"event": map[string]string{"id": id, "type": typ}, "sinks": results}); err != nil {
					return err
				}
			} else {
				printRoutes(a, id, typ, typeFrom, results)
			}
			if slices.ContainsFunc(results, func(r routeResult) bool { return r.Outcome == "error" }) {
				return &exitError{code: ExitCheckFailed, err: fmt.Errorf("a filter or transform failed on the event; it would be poisoned for that sink")}
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&file, "config", "c", "", "pipeline file (required)")
	f.StringVar(&eventFile, "event", "", "file holding the event's payload, - for standard input (required)")
	f.StringVar(&typ, "type", "", "event type (default: the payload's type, topic or eventType)")
	f.StringVar(&id, "id", "", "event id (default: the payload's id)")
	f.StringVar(&pipeline, "pipeline", "", "only this pipeline (default: every pipeline in the file)")
	f.StringVar(&source, "source", "", "name of the source the event came from, for filters that read it (default: none)")
	f.StringArrayVar(&meta, "meta", nil, "metadata key=value (repeatable)")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}

// routeOne runs one sink's filter and transform on a copy of msg, as the
// router's delivery handler would.
func routeOne(pipeline, sink string, filter func(*message.Message) (bool, error),
	transform func(*message.Message) (*message.Message, error), route config.Route, msg *message.Message) routeResult {
	r := routeResult{Pipeline: pipeline, Sink: sink, Outcome: "deliver"}
	in := msg.Copy()
	if filter != nil {
		ok, err := filter(in)
		if err != nil {
			r.Outcome, r.Error = "error", "filter: "+err.Error()
			return r
		}
		if !ok {
			r.Outcome, r.Why = "filtered", whyFiltered(route, in)
			return r
		}
		r.Why = "filter matches"
	}
	out := in
	if transform != nil {
		var err error
		if out, err = transform(in.Copy()); err != nil {
			r.Outcome, r.Error = "error", "transform: "+err.Error()
			return r
		}
	}
	for k, v := range out.Metadata {
		if h, ok := strings.CutPrefix(k, routing.HeaderPrefix); ok {
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			r.Headers[h] = v
		}
	}
	if json.Valid(out.Payload) {
		var buf bytes.Buffer
		if json.Compact(&buf, out.Payload) == nil {
			r.Body = buf.Bytes()
		}
	} else {
		r.Text = string(out.Payload)
	}
	return r
}

// readEvent reads the --event payload: a file, or standard input for "-".
func readEvent(stdin io.Reader, name string) ([]byte, error) {
	var (
		payload []byte
		err     error
	)
	if name == "-" {
		payload, err = io.ReadAll(stdin)
	} else {
		payload, err = os.ReadFile(name)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, codef(ExitUsage, "--event %s: no such file", name)
	case err != nil:
		return nil, codef(ExitUsage, "--event %s: %v", name, err)
	case len(bytes.TrimSpace(payload)) == 0:
		return nil, codef(ExitUsage, "--event %s: empty; want the event's payload", name)
	}
	return payload, nil
}

// whyFiltered names the part of the sink's filter that turned msg down.
func whyFiltered(r config.Route, msg *message.Message) string {
	f, err := routing.NewFilter(routing.FilterSpec{Types: r.Types, Expr: r.Expr})
	if err == nil {
		if why, err := f.Why(msg.Copy()); err == nil && why != "" {
			return why
		}
	}
	return describeFilter(r) // a filter of Go code, not of the file
}

func describeFilter(r config.Route) string {
	var parts []string
	if len(r.Types) > 0 {
		parts = append(parts, "types "+strings.Join(r.Types, ", "))
	}
	if r.Expr != "" {
		parts = append(parts, "expr "+strings.Join(strings.Fields(r.Expr), " "))
	}
	return "filter: " + strings.Join(parts, "; ")
}

func printRoutes(a *app, id, typ, typeFrom string, results []routeResult) {
	if typ == "" {
		fmt.Fprintf(a.stdout, "event %s, no type (pass --type)\n", id)
	} else {
		fmt.Fprintf(a.stdout, "event %s, type %s (from %s)\n", id, typ, typeFrom)
	}
	for _, r := range results {
		fmt.Fprintf(a.stdout, "\n%s / %s: ", r.Pipeline, r.Sink)
		switch r.Outcome {
		case "filtered":
			fmt.Fprintf(a.stdout, "filtered out (%s)\n", r.Why)
			continue
		case "error":
			fmt.Fprintf(a.stdout, "ERROR, would be poisoned: %s\n", r.Error)
			continue
		}
		fmt.Fprintln(a.stdout, "delivers")
		for _, h := range slices.Sorted(maps.Keys(r.Headers)) {
			fmt.Fprintf(a.stdout, "  header %s: %s\n", h, r.Headers[h])
		}
		if r.Body != nil {
			fmt.Fprintf(a.stdout, "  body: %s\n", r.Body)
		} else {
			fmt.Fprintf(a.stdout, "  body (not JSON): %s\n", r.Text)
		}
	}
}

// routingSummary is a sink's filter and transform in one line, for the
// admin page.
func routingSummary(r config.Route) string {
	var parts []string
	if len(r.Types) > 0 || r.Expr != "" {
		parts = append(parts, describeFilter(r))
	}
	if r.Body != "" {
		parts = append(parts, "transform: body")
	}
	if len(r.Headers) > 0 {
		parts = append(parts, "headers "+strings.Join(r.Headers, ", "))
	}
	return strings.Join(parts, " · ")
}
