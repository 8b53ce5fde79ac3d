package cli

import (
	"cmp"
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// otlpTracesURL is where spans are exported: --otlp-endpoint, else the
// standard OpenTelemetry variables (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the
// full URL; OTEL_EXPORTER_OTLP_ENDPOINT, a base to which /v1/traces is
// added). "" when none is set: tracing is off.
func (a *app) otlpTracesURL(flag string) string {
	if u := cmp.Or(flag, a.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); u != "" {
		return u
	}
	if u := a.getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); u != "" {
		return strings.TrimSuffix(u, "/") + "/v1/traces"
	}
	return ""
}

// tracerProvider returns the provider the router makes its spans with: one
// that exports over OTLP/HTTP (protobuf) to url in batches, or a no-op one
// when url is "" (off by default: nothing recorded, nothing sent). shutdown
// flushes what is batched.
func (a *app) tracerProvider(ctx context.Context, url string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if url == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
	if err != nil {
		return nil, nil, codef(ExitUsage, "OTLP endpoint %q: %v", url, err)
	}
	service := cmp.Or(a.getenv("OTEL_SERVICE_NAME"), "tributary")
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
	return sdk, sdk.Shutdown, nil
}
