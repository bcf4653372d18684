package device

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// Owner returns the account of device id, from the ingestion cache (fresh
// for a few seconds), for drivers that authorise many requests on one
// device, such as the live-log stream. Unlike Get it needs no principal and
// tells "not found" (CodeNotFound) from "another account's": the caller
// decides what to show. CodeInvalid for a malformed id.
func (s *Service) Owner(ctx context.Context, id string) (string, error) {
	const op = "device.Owner"
	if !domain.ValidID(id) {
		return "", domain.Errorf(domain.CodeInvalid, op, "id: not a valid device id")
	}
	d, err := s.ingest.devices.get(ctx, id)
	if err != nil {
		return "", domain.Wrap(op, err)
	}
	return d.AccountID, nil
}
