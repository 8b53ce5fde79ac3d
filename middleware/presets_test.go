package middleware

import (
	"testing"
	"time"
)

func TestSchedulePresets(t *testing.T) {
	t.Parallel()
	lin, _ := ParseSchedule("linear")
	for n := 1; n <= LinearRetries; n++ {
		if d, _ := lin.Delay(n); d != time.Duration(n)*time.Minute {
			t.Fatalf("linear retry %d waits %v", n, d)
		}
	}
	pk, _ := ParseSchedule("parakey")
	if pk.Len() != 5 || pk.Total() != 20*time.Minute {
		t.Fatalf("parakey: %d retries, last %v after the first failure; want 5 and 20m", pk.Len(), pk.Total())
	}
	std, _ := ParseSchedule("Standard")
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if std.Len() != len(want) {
		t.Fatalf("standard: %d retries", std.Len())
	}
	for i, w := range want {
		if d, _ := std.Delay(i + 1); d != w {
			t.Fatalf("standard retry %d waits %v, want %v", i+1, d, w)
		}
	}
	list, err := ParseSchedule("10s, 1m,1h")
	if err != nil || list.Len() != 3 || list.Total() != time.Hour+70*time.Second {
		t.Fatalf("list: %+v %v", list, err)
	}
	for _, bad := range []string{"", "fast", "1m,-5s", "1m,,2m"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Fatalf("ParseSchedule(%q) accepted", bad)
		}
	}
}
