package verify

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenantmover/tenantmover/internal/citus"
	"github.com/tenantmover/tenantmover/internal/db"
)

// nodePools opens a pool per Citus node on first use, connecting directly
// to the node (not through the coordinator) so each placement is read as
// it is stored.
type nodePools struct {
	coordinator side   // placements in group 0 are read through the target pool
	url         string // the coordinator's URL; nodes get its user, password, options
	maxConns    int32

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

func newNodePools(coordinator side, url string, workers int) *nodePools {
	return &nodePools{coordinator: coordinator, url: url, maxConns: int32(workers), pools: map[string]*pgxpool.Pool{}}
}

// side returns the side reading placements on node.
func (n *nodePools) side(ctx context.Context, node citus.Node) (side, error) {
	if node.IsCoordinator() {
		return side{name: "node " + node.Addr(), pool: n.coordinator.pool}, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pool := n.pools[node.Addr()]
	if pool == nil {
		opts := db.ForProfile(db.ProfileScans)
		opts.Settings = SessionSettings()
		opts.MaxConns = n.maxConns
		var err error
		if pool, err = db.Open(ctx, citus.WorkerURL(n.url, node), opts); err != nil {
			return side{}, err
		}
		n.pools[node.Addr()] = pool
	}
	return side{name: "node " + node.Addr(), pool: pool}, nil
}

func (n *nodePools) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pools {
		p.Close()
	}
}
