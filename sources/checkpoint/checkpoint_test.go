package checkpoint_test

import (
	"context"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/sources/checkpoint"
)

func TestSaveLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	store := checkpoint.NewStore(pgtest.NewPool(t))
	ctx := context.Background()
	type cursor struct {
		ETag      string `json:"etag"`
		CreatedAt string `json:"created_at"`
	}
	var got cursor
	if ok, err := store.Load(ctx, "src", &got); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for _, want := range []cursor{{`W/"a"`, "2026-01-01T00:00:00Z"}, {`"b"`, "2026-01-02T00:00:00Z"}} {
		if err := store.Save(ctx, "src", want); err != nil {
			t.Fatal(err)
		}
		if ok, err := store.Load(ctx, "src", &got); !ok || err != nil || got != want {
			t.Fatalf("load = %+v ok=%v err=%v, want %+v", got, ok, err, want)
		}
	}
}
