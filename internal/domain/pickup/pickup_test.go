package pickup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

func TestPushBackoffDoublesToAMinute(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for i, w := range want {
		if got := pushBackoff(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
	if got := pushBackoff(40); got != time.Minute {
		t.Errorf("attempt 40: %v, want the one-minute cap", got)
	}
}

func TestHashTokenSeparatesTypes(t *testing.T) {
	a := HashToken(PushToken{Type: "fcm", Token: "x"})
	if a == HashToken(PushToken{Type: "apns", Token: "x"}) || a != HashToken(PushToken{Type: "fcm", Token: "x"}) || len(a) != 64 {
		t.Fatalf("hash %q", a)
	}
	if !Retryable(&RetryableError{Err: errors.New("503")}) || Retryable(errors.New("400")) {
		t.Fatal("Retryable")
	}
}

// Validation happens before the store is touched: a nil store proves it.
func TestInputValidationNamesTheField(t *testing.T) {
	s := NewService(nil, nil, nil, domain.SystemClock{}, nil, Options{MaxMessageBytes: 10})
	defer s.Close()
	ctx, c := context.Background(), Client{}
	cases := []struct {
		err  error
		code domain.Code
		text string
	}{
		{second(s.AddMessage(ctx, c, AddInput{RecipientDIDs: []string{"d"}, Payload: []byte("{}")})), domain.CodeInvalid, "connectionId is required"},
		{second(s.AddMessage(ctx, c, AddInput{ConnectionID: "c", Payload: []byte("{}")})), domain.CodeInvalid, "recipientDids must list"},
		{second(s.AddMessage(ctx, c, AddInput{ConnectionID: "c", RecipientDIDs: []string{"a\nb"}, Payload: []byte("{}")})), domain.CodeInvalid, "control character"},
		{second(s.AddMessage(ctx, c, AddInput{ConnectionID: "c", RecipientDIDs: []string{"d"}, Payload: []byte(`{"x":"0123456789"}`)})), domain.CodeTooLarge, "over the limit of 10; nothing was stored"},
		{second(s.AddMessage(ctx, c, AddInput{ConnectionID: "c", RecipientDIDs: []string{"d"}, Payload: []byte("{}"), Push: &PushToken{Token: "t"}})), domain.CodeInvalid, "pushNotificationToken.type is required"},
		{second(s.Take(ctx, c, TakeInput{ConnectionID: "c", Limit: ptr(-1)})), domain.CodeInvalid, "limit must be >= 0"},
		{second(s.RemoveAll(ctx, c, "c", "")), domain.CodeInvalid, "recipientDid is required"},
		{second(s.AddLiveSession(ctx, c, "c", "")), domain.CodeInvalid, "sessionId is required"},
		{second(s.RemoveMessages(ctx, c, "c", []string{""})), domain.CodeInvalid, "messageIds[] is required"},
		{second(s.Count(ctx, c, strings.Repeat("x", 300), "")), domain.CodeInvalid, "connectionId is 300 bytes"},
	}
	for i, tc := range cases {
		if domain.ErrorCode(tc.err) != tc.code || !strings.Contains(domain.ErrorMessage(tc.err), tc.text) {
			t.Errorf("case %d: %v, want %s containing %q", i, tc.err, tc.code, tc.text)
		}
	}
	if n, err := s.RemoveMessages(ctx, c, "c", nil); n != 0 || err != nil {
		t.Errorf("removing no ids: %d %v", n, err)
	}
}

func TestClosedServiceRefusesAdds(t *testing.T) {
	s := NewService(nil, nil, nil, domain.SystemClock{}, nil, Options{})
	s.Close()
	_, err := s.AddMessage(context.Background(), Client{}, AddInput{ConnectionID: "c", RecipientDIDs: []string{"d"}, Payload: []byte("{}")})
	if !domain.Is(err, domain.CodeUnavailable) {
		t.Fatalf("add after Close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func ptr[T any](v T) *T { return &v }
