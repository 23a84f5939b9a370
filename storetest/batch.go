package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/chatbus/chatbus"
)

// testBatch: in a batch, each Update applies or not on its own (a failing
// one leaves no trace, the others stay); nothing is seen outside before the
// batch commits; a failing batch undoes every Update in it.
func testBatch(t *testing.T, s chatbus.Store) {
	b, ok := s.(chatbus.Batcher)
	if !ok {
		t.Skip("this store does not batch")
	}
	addUsers(t, s, "a", "b")
	roomID := addRoom(t, s, "", false, at(0), "a", "b")
	ctx := t.Context()
	insert := func(ctx context.Context, text string, fail bool) error {
		return s.Update(ctx, func(tx chatbus.Tx) error {
			if _, err := tx.InsertMessage(ctx, chatbus.Message{RoomID: roomID, WriterID: "a", Message: text, CreatedAt: at(1)}); err != nil {
				return err
			}
			if fail {
				return chatbus.Errorf(chatbus.CodeForbidden, "no")
			}
			return nil
		})
	}
	history := func() []string {
		msgs := get(t, s, func(tx chatbus.Tx) ([]chatbus.Message, error) {
			return tx.Messages(ctx, roomID, chatbus.MessageFilter{Forward: true, Limit: 100})
		})
		var out []string
		for _, m := range msgs {
			out = append(out, m.Message)
		}
		return out
	}

	err := b.Batch(ctx, func(ctx context.Context) error {
		if err := insert(ctx, "one", false); err != nil {
			return err
		}
		wantCode(t, insert(ctx, "refused", true), chatbus.CodeForbidden)
		if err := insert(ctx, "two", false); err != nil {
			return err
		}
		if got := history(); len(got) != 0 {
			t.Errorf("seen before the batch committed: %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if d := diff([]string{"one", "two"}, history()); d != "" {
		t.Errorf("after the batch (-want +got):\n%s", d)
	}
	if r := room(t, s, roomID); r.LastSeq != 2 {
		t.Errorf("last seq %d, want 2: the refused message gave its seq back", r.LastSeq)
	}

	failed := errors.New("the batch fails")
	err = b.Batch(ctx, func(ctx context.Context) error {
		if err := insert(ctx, "three", false); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Batch: %v, want the batch's error", err)
	}
	if d := diff([]string{"one", "two"}, history()); d != "" {
		t.Errorf("after a failed batch (-want +got):\n%s", d)
	}
}
