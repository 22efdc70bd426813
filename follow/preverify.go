package follow

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/verify"
)

// A cutover verifies before it blocks writes what it can, so the write
// pause only verifies what changed since. Once the follower has applied
// everything up to a fence P (the catch-up's last), a tenant whose last
// change the follower records at or before P reads the same on both
// sides while the application keeps writing to other tenants: its
// comparison then holds at the switch too. With writes blocked, the
// cutover verifies only the tenants changed after P, those the early
// comparison found different (they were changing under it), and the
// reference tables (whose changes name no tenant).

// early is what the verification before the write pause settled.
type early struct {
	at      string          // the fence the follower had applied through
	failed  map[string]bool // tenants found different
	whole   bool            // a difference not about one tenant: verify everything again
	truncs  int64           // the stream's TRUNCATEs when it ran
	seconds float64
	result  *verify.Result
}

// verifyEarly runs the comparison before writes are blocked (nothing when
// --verify none, or when no tenant changed with --verify changed).
func (c *cutover) verifyEarly(ctx context.Context) error {
	if c.cfg.Verify == VerifyNone {
		return nil
	}
	vcfg := verify.Config{Checksum: true}
	if c.cfg.Verify == VerifyChanged {
		tenants, err := c.store.ChangedTenants(ctx, c.cfg.Stream)
		if err != nil || len(tenants) == 0 {
			return err
		}
		vcfg.Tenants = tenants
	}
	st, err := c.store.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return err
	}
	c.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("verifying %s with checksums before blocking writes", scope(vcfg.Tenants))})
	started := time.Now()
	res, err := verify.Run(ctx, c.verifyEnv(), vcfg)
	if err != nil {
		return fmt.Errorf("verify before blocking writes: %w", err)
	}
	e := &early{at: c.caughtUp.String(), failed: map[string]bool{}, truncs: st.Counts.Truncates, seconds: time.Since(started).Seconds(), result: res}
	for _, d := range res.Differences {
		if d.Tenant == "" {
			e.whole = true
		}
		e.failed[d.Tenant] = true
	}
	c.early = e
	c.emit.Emit(phase.Event{Kind: phase.Note, Message: fmt.Sprintf("compared %d rows in %.1fs before blocking writes; %d differences, from changes in flight, to verify again with writes blocked",
		res.Rows, e.seconds, len(res.Differences))})
	return nil
}

// lateScope is what the write pause verifies: nil tables and tenants mean
// the configured scope whole; otherwise the tenants changed since the
// early comparison and the ones it found different, or, when there are
// none, the tables without tenants alone (none at all: nothing to verify).
func (c *cutover) lateScope(ctx context.Context) (vcfg verify.Config, skip bool, err error) {
	vcfg = verify.Config{Checksum: true}
	if c.cfg.Verify == VerifyChanged {
		vcfg.Tenants = c.report.Tenants
	}
	e := c.early
	if e == nil || e.whole || c.stream.Counts.Truncates != e.truncs {
		return vcfg, false, nil
	}
	changed, err := c.store.ChangedTenantsAfter(ctx, c.cfg.Stream, e.at)
	if err != nil {
		return vcfg, false, err
	}
	tenants := map[string]bool{}
	for _, t := range changed {
		tenants[t] = true
	}
	for t := range e.failed {
		tenants[t] = true
	}
	vcfg.Tenants = vcfg.Tenants[:0:0]
	for t := range tenants {
		vcfg.Tenants = append(vcfg.Tenants, t)
	}
	if len(vcfg.Tenants) > 0 {
		return vcfg, false, nil
	}
	for _, t := range c.cfg.Plan.Included() {
		if !t.Kind.Distributed() {
			vcfg.Tables = append(vcfg.Tables, t.Name().Quoted())
		}
	}
	return vcfg, len(vcfg.Tables) == 0, nil
}

func (c *cutover) verifyEnv() *phase.Env {
	return &phase.Env{Source: c.cfg.Source, Target: c.cfg.Target, Plan: c.cfg.Plan, Progress: c.cfg.Progress}
}
