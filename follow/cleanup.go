package follow

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/checkpoints"
)

// Cleanup ends stream name for good: it drops the source's slot (so it
// retains no more WAL) and publication, restores the replica identity the
// stream changed, and forgets the stream on the target. The target's data
// stays. It is what cutover does last, and what an abandoned run needs.
func Cleanup(ctx context.Context, src, dst *pgxpool.Pool, name string) (*checkpoints.Stream, error) {
	store := checkpoints.Attach(dst)
	st, err := store.Stream(ctx, name)
	if errors.Is(err, checkpoints.ErrNoStream) {
		return nil, fmt.Errorf("no stream %q on the target: nothing to clean up (copy --follow or migrate --follow start one; status lists them)", name)
	}
	if err != nil {
		return nil, err
	}
	if err := store.RequestStop(ctx, name, true); err != nil {
		return nil, err
	}
	awaitRelease(ctx, src, st.Slot)
	if err := endStream(ctx, src, st); err != nil {
		return nil, err
	}
	if err := store.ForgetStream(ctx, name); err != nil {
		return nil, fmt.Errorf("target: forgetting stream %q: %w", name, err)
	}
	return st, nil
}

// endStream drops the stream's source objects.
func endStream(ctx context.Context, src *pgxpool.Pool, st *checkpoints.Stream) error {
	if err := dropSlot(ctx, src, st.Slot); err != nil {
		return err
	}
	if err := dropPublication(ctx, src, st.Publication); err != nil {
		return err
	}
	return restoreIdentity(ctx, src, st.IdentityFull)
}
