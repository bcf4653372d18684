package bench

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/domain/account"
	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// fakeAccounts checks what the workload sends: the token, valid and unique
// names, reads of an existing account.
type fakeAccounts struct {
	liveplanev1connect.UnimplementedAccountServiceHandler
	mu    sync.Mutex
	names map[string]string // id -> name
	bad   []string
}

func (f *fakeAccounts) CreateAccount(_ context.Context, req *connect.Request[liveplanev1.CreateAccountRequest]) (*connect.Response[liveplanev1.CreateAccountResponse], error) {
	if req.Header().Get("Authorization") != "Bearer admin" {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("bad token"))
	}
	name := req.Msg.GetName()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.names {
		if n == name {
			f.bad = append(f.bad, "duplicate "+name)
			return nil, connect.NewError(connect.CodeAlreadyExists, errors.New("taken"))
		}
	}
	if err := account.ValidateName("test", name); err != nil {
		f.bad = append(f.bad, name+": "+err.Error())
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	id := "acc-" + strconv.Itoa(len(f.names))
	f.names[id] = name
	return connect.NewResponse(&liveplanev1.CreateAccountResponse{Account: &liveplanev1.Account{Id: id, Name: name}}), nil
}

func (f *fakeAccounts) GetAccount(_ context.Context, req *connect.Request[liveplanev1.GetAccountRequest]) (*connect.Response[liveplanev1.GetAccountResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.names[req.Msg.GetId()]
	if !ok || req.Header().Get("Authorization") != "Bearer admin" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such account"))
	}
	return connect.NewResponse(&liveplanev1.GetAccountResponse{Account: &liveplanev1.Account{Id: req.Msg.GetId(), Name: name}}), nil
}

func startFakeAccounts(t *testing.T) (*fakeAccounts, string) {
	f := &fakeAccounts{names: map[string]string{}}
	mux := http.NewServeMux()
	mux.Handle(liveplanev1connect.NewAccountServiceHandler(f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestCreateAccountWorkload(t *testing.T) {
	f, url := startFakeAccounts(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		load  Load
		basis string
	}{
		{Load{Rate: 200, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, MaxInFlight: 8}, "p50_latency"},
		{Load{Concurrency: 4, Duration: 200 * time.Millisecond}, "throughput"},
	} {
		w := &CreateAccount{baseline: true}
		res, err := w.Run(context.Background(), Env{Load: tc.load, ServerURL: url, Token: "admin", Log: log})
		if err != nil {
			t.Fatal(err)
		}
		if res.Workload != "create-account" || res.OK == 0 || res.Errors != 0 {
			t.Errorf("%s: ok %d errors %d %v", tc.basis, res.OK, res.Errors, res.ErrorSamples)
		}
		if tc.load.Rate > 0 && res.OK != 60 {
			t.Errorf("open loop: ok %d, want 60", res.OK)
		}
		base, _ := res.Extra["baseline_get_account"].(Summary)
		ratio, _ := res.Extra["ratio_to_baseline"].(float64)
		if base.OK == 0 || base.Errors != 0 || ratio <= 0 || res.Extra["ratio_basis"] != tc.basis {
			t.Errorf("%s: extra %+v", tc.basis, res.Extra)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Errorf("server saw bad names: %v", f.bad[:min(5, len(f.bad))])
	}
}

func TestCreateAccountWrongTokenFailsFast(t *testing.T) {
	_, url := startFakeAccounts(t)
	w := &CreateAccount{baseline: true}
	begin := time.Now()
	_, err := w.Run(context.Background(), Env{Load: Load{Rate: 10, Duration: time.Minute}, ServerURL: url, Token: "wrong",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if connect.CodeOf(err) != connect.CodeUnauthenticated || time.Since(begin) > 5*time.Second {
		t.Errorf("err = %v after %v; want unauthenticated at once", err, time.Since(begin))
	}
}

func TestAccountNames(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int64{0, 1, 35, 36, 1 << 20, 1<<63 - 1} {
		name := accountName(namePrefix(), i)
		if err := account.ValidateName("test", name); err != nil || seen[name] {
			t.Errorf("name %q: %v (dup %v)", name, err, seen[name])
		}
		seen[name] = true
	}
}
