package cli

import (
	"encoding/base64"
	"slices"
	"testing"
)

func TestAdminSecrets(t *testing.T) {
	t.Parallel()
	got := adminSecrets([]string{
		"HOME=/root", "CRM_WEBHOOK_SECRET=whsec-123", "FEED_TOKEN=tok-9", "PATH=/bin",
		"DATABASE_URL=postgres://app:pw-77@db/x", "EMPTY_TOKEN=", "noequals",
		"SMTP_PASS=pass-one", "PASS=pass-two", "DB_PWD=pass-three", "BYPASS_CACHE=no-secret", "PASSENGER_COUNT=no-secret",
		"RABBITMQ_URL=amqp://tributary:rabbit-pw@rabbit:5672/",
	})
	for _, want := range []string{"whsec-123", "tok-9", "postgres://app:pw-77@db/x", "pw-77",
		base64.RawStdEncoding.EncodeToString([]byte("app:pw-77")), "pass-one", "pass-two", "pass-three", "rabbit-pw"} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
	for _, not := range []string{"/root", "/bin", "", "no-secret"} {
		if slices.Contains(got, not) {
			t.Errorf("%q is not a secret: %q", not, got)
		}
	}
}
