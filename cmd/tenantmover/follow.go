package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/urfave/cli/v2"

	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/db"
	"github.com/tenantmover/tenantmover/internal/ddl"
	"github.com/tenantmover/tenantmover/internal/plan"
)

// followFlags are the flags of copy and migrate that follow the source.
func followFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "follow", Usage: "copy from a replication slot's snapshot, then apply the source's changes until 'tenantmover cutover' (or Ctrl-C; a rerun resumes)"},
		&cli.StringFlag{Name: "on-truncate", Value: follow.TruncateStop, Usage: "with --follow, what a TRUNCATE on the source does: stop (name the table and stop) or apply (truncate the target's too)"},
		&cli.IntFlag{Name: "lanes", Value: follow.DefaultLanes, Usage: fmt.Sprintf("with --follow, how many target transactions apply different tenants' changes at once (1 to %d; each tenant's keep their order; fixed when the stream starts, a rerun keeps it)", follow.MaxLanes)},
	}
}

// followConfig reads the follow flags; nil without --follow.
func followConfig(c *cli.Context) (*follow.Config, error) {
	if !c.Bool("follow") {
		var needs []string
		for _, name := range []string{"on-truncate", "lanes"} {
			if c.IsSet(name) {
				needs = append(needs, "--"+name+" needs --follow")
			}
		}
		if len(needs) > 0 {
			return nil, usageError(strings.Join(needs, "; "))
		}
		return nil, nil
	}
	if windowSet(c) {
		return nil, usageError("--until, --for, --grace and the rate and session limits do not apply with --follow: a followed copy runs until the cutover")
	}
	if err := follow.CheckLanes(c.Int("lanes")); err != nil {
		return nil, usageError(err.Error())
	}
	cfg, err := follow.NewConfig(follow.Config{OnTruncate: c.String("on-truncate"), Lanes: c.Int("lanes")})
	if err != nil {
		return nil, usageError(err.Error())
	}
	return &cfg, nil
}

// runCopyFollow is copy --follow: the copy from the slot's snapshot, then
// the follower, which ends at the cutover.
func runCopyFollow(c *cli.Context, fcfg follow.Config) error {
	in, err := readCommandInputs(c, true, "text", "json")
	if err != nil {
		return err
	}
	cfg, err := copyConfig(c)
	if err != nil {
		return err
	}
	if len(cfg.Tenants) > 0 || cfg.DryRun || cfg.Replace {
		return usageError("--follow streams every tenant's changes: it cannot be combined with --tenants, --replace or --dry-run")
	}
	env, closeProgress, err := in.phaseEnv(c, pgcopy.Name)
	if err != nil {
		return err
	}
	defer closeProgress()
	cp, err := follow.NewCopy(cfg, fcfg)
	if err != nil {
		return usageError(err.Error())
	}
	res, err := cp.Run(c.Context, env)
	if err != nil {
		return err
	}
	closeProgress()
	if rep, ok := res.Report.(*pgcopy.Report); ok {
		printCopySummary(stderrOf(c), rep)
	} else {
		fmt.Fprintln(stderrOf(c), res.Note)
	}
	fmt.Fprintf(stderrOf(c), "following the source's changes: run 'tenantmover cutover --run %s' to switch, Ctrl-C to pause (a rerun resumes)\n", env.Run)
	rep, err := follow.Run(c.Context, env, fcfg)
	if rep != nil {
		printFollowReport(stderrOf(c), rep)
	}
	if err != nil {
		return err
	}
	return writeJSON(c, in.format, rep)
}

func printFollowReport(w io.Writer, r *follow.Report) {
	a := r.Applied
	fmt.Fprintf(w, "follow %q: applied %d inserts, %d updates, %d deletes, %d truncates in %d transactions (%.1fs), through %s",
		r.Stream, a.Inserts, a.Updates, a.Deletes, a.Truncates, a.Transactions, r.Seconds, r.Position)
	if r.Stopped != "" {
		fmt.Fprintf(w, "; %s", r.Stopped)
	}
	fmt.Fprintln(w)
}

func cutoverCommand() *cli.Command {
	flags := commonFlags(sourceFlag, targetFlag, formatFlag,
		&cli.StringFlag{Name: "run", Usage: "the followed run (copy --follow's or migrate --follow's --run; default: the only stream on the target)"},
		&cli.DurationFlag{Name: "timeout", Value: follow.DefaultCutoverTimeout, Usage: "longest write pause: taking the locks and waiting for the last changes; past it, everything is released and nothing changes"},
		&cli.StringFlag{Name: "verify", Value: follow.VerifyChanged, Usage: "what is verified (with checksums) while writes are blocked: changed (the tenants changed since the snapshot), all, or none"},
	)
	return &cli.Command{
		Name:  "cutover",
		Usage: "switch from the source to the target: block writes, apply the last changes, verify, and make the source refuse writes",
		Description: `Ends a run of copy --follow or migrate --follow with a short write pause:

   1. lock the source's planned tables against writes (reads go on), retried
      with a short lock_timeout so the application's queue stays short
   2. write a fence into the source's WAL and wait until the follower applied
      everything before it (when no follower runs, cutover applies the rest)
   3. move the target's sequences past the source's
   4. verify, with checksums, the tenants the follower changed (--verify)
   5. create on the target what migrate --follow left out while the follower
      wrote: triggers, row-level security and policies
   6. install a trigger on every source table that refuses writes, naming the
      cutover (undo: DROP TRIGGER tenantmover_cutover ON <table>), and commit:
      the write pause ends, the application now writes to the target
   7. stop the follower, drop the replication slot and the publication

If the fence is not reached within --timeout, or verify finds differences,
the locks are released and nothing changes: the source takes writes again
and the follower goes on. Exit status 0 when cut over, 2 when verify found
differences, 1 on error.`,
		Flags:  append(flags, tenantFlags()...),
		Action: runCutover,
	}
}

func runCutover(c *cli.Context) error {
	in, err := readCommandInputs(c, true, "text", "json")
	if err != nil {
		return err
	}
	p, err := buildPlan(c, in.source, in.plan)
	if err != nil {
		return err
	}
	name, err := streamName(c, in.target)
	if err != nil {
		return err
	}
	progress, closeProgress := newProgress(c)
	rep, err := follow.Cutover(c.Context, follow.CutoverConfig{Source: in.source, Target: in.target, Plan: p, Stream: name,
		Timeout: c.Duration("timeout"), Verify: c.String("verify"), Progress: progress, Finish: finishTarget(p)})
	closeProgress()
	var ve *follow.VerifyError
	if errors.As(err, &ve) {
		printDifferences(stderrOf(c), ve.Result.Differences)
		return &differencesError{msg: err.Error()}
	}
	if err != nil {
		return err
	}
	printCutover(stderrOf(c), rep)
	return writeJSON(c, in.format, rep)
}

// finishTarget reads, before the cutover's write pause, what migrate
// --follow leaves out while the follower writes (triggers, row-level
// security and policies: ddl.WithoutTriggers) and the target lacks, and
// returns its creation, which runs in the pause. What is there already is
// left alone.
func finishTarget(p *plan.Plan) func(context.Context, *pgxpool.Pool) (func(context.Context) error, error) {
	return func(ctx context.Context, dst *pgxpool.Pool) (func(context.Context) error, error) {
		after, err := ddl.PrepareAfterData(ctx, dst, p)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return after.Run(ctx, dst) }, nil
	}
}

func printCutover(w io.Writer, r *follow.CutoverReport) {
	a := r.Applied
	fmt.Fprintf(w, "cut over stream %q at %s: writes paused %.2fs (last changes %.2fs, sequences %.2fs, verify %.2fs, target triggers %.2fs); %d tables on the source now refuse writes (undo: DROP TRIGGER tenantmover_cutover ON <table>)\n",
		r.Stream, r.Fence, r.PauseSeconds, r.DrainSeconds, r.SequenceSeconds, r.VerifySeconds, r.FinishSeconds, len(r.Guarded))
	fmt.Fprintf(w, "applied since the snapshot: %d inserts, %d updates, %d deletes in %d transactions; %d tenants changed\n",
		a.Inserts, a.Updates, a.Deletes, a.Transactions, len(r.Tenants))
	if r.EarlyVerify != nil {
		fmt.Fprintf(w, "verified with checksums before blocking writes (%.2fs, not part of the pause): %d rows of %s, %d found different while they changed\n",
			r.EarlyVerifySeconds, r.EarlyVerify.Rows, verifiedScope(r), len(r.EarlyVerify.Differences))
	}
	switch {
	case r.Verify != nil && r.EarlyVerify != nil:
		fmt.Fprintf(w, "verified with checksums with writes blocked: %d rows of the %d tenants changed or different since, and the tables without tenants, match\n", r.Verify.Rows, r.VerifiedTenants)
	case r.Verify != nil:
		fmt.Fprintf(w, "verified with checksums: %d rows of %s match\n", r.Verify.Rows, verifiedScope(r))
	case r.EarlyVerify != nil:
		fmt.Fprintln(w, "nothing changed since the comparison before blocking writes: no verify in the pause")
	default:
		fmt.Fprintln(w, "not verified (--verify none, or no tenant changed)")
	}
	fmt.Fprintln(w, "the replication slot and publication are dropped")
}

func verifiedScope(r *follow.CutoverReport) string {
	if r.VerifyScope == follow.VerifyChanged {
		return fmt.Sprintf("the %d changed tenants", len(r.Tenants))
	}
	return "every tenant"
}

// streamName is --run, or the target's only stream.
func streamName(c *cli.Context, target string) (string, error) {
	if n := c.String("run"); n != "" {
		return n, nil
	}
	streams, err := readStreams(c.Context, target)
	if err != nil {
		return "", err
	}
	var open []string
	for _, s := range streams {
		if s.CutoverAt == nil {
			open = append(open, s.Name)
		}
	}
	switch len(open) {
	case 0:
		return "", errors.New("the target has no followed run: start one with copy --follow or migrate --follow")
	case 1:
		return open[0], nil
	}
	return "", usageError(fmt.Sprintf("the target has %d followed runs (%s): say which with --run", len(open), strings.Join(open, ", ")))
}

func readStreams(ctx context.Context, url string) ([]checkpoints.Stream, error) {
	pool, err := db.Open(ctx, url, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return checkpoints.Attach(pool).Streams(ctx, "")
}

func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Usage: "end an abandoned followed run: drop its replication slot and publication on the source",
		Description: `A followed run (copy --follow, migrate --follow) keeps a replication slot on
the source, which retains WAL until the run is cut over: an abandoned one
fills the source's disk. cleanup stops its follower, drops the slot and the
publication, restores the replica identity it changed, and forgets the run's
stream on the target. The target's data stays.`,
		Flags: commonFlags(sourceFlag, targetFlag,
			&cli.StringFlag{Name: "run", Usage: "the followed run to end (default: the only stream on the target)"}),
		Action: func(c *cli.Context) error {
			src, err := requireURL(c, "source")
			if err != nil {
				return err
			}
			dst, err := requireURL(c, "target")
			if err != nil {
				return err
			}
			name, err := streamName(c, dst)
			if err != nil {
				return err
			}
			return cleanup(c, src, dst, name)
		},
	}
}

func cleanup(c *cli.Context, srcURL, dstURL, name string) error {
	pools, err := openPools(c.Context, srcURL, dstURL)
	if err != nil {
		return err
	}
	defer pools.close()
	st, err := follow.Cleanup(c.Context, pools.src, pools.dst, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderrOf(c), "stream %q ended: dropped slot %s and publication %s on the source\n", name, st.Slot, st.Publication)
	return nil
}

type poolPair struct{ src, dst *pgxpool.Pool }

func openPools(ctx context.Context, srcURL, dstURL string) (*poolPair, error) {
	src, err := db.Open(ctx, srcURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		return nil, err
	}
	dst, err := db.Open(ctx, dstURL, db.ForProfile(db.ProfileCatalog))
	if err != nil {
		src.Close()
		return nil, err
	}
	return &poolPair{src, dst}, nil
}

func (p *poolPair) close() {
	p.src.Close()
	p.dst.Close()
}

// streamLag is what status shows of a stream: how far behind the source
// the follower is, and the WAL its slot keeps.
type streamLag struct {
	checkpoints.Stream
	LagBytes      *int64   `json:"lag_bytes,omitempty"`
	LagSeconds    *float64 `json:"lag_seconds,omitempty"`
	RetainedBytes *int64   `json:"retained_bytes,omitempty"`
	Active        bool     `json:"follower_connected"`
	Tenants       []string `json:"changed_tenant_list,omitempty"`
}

// slotWarnBytes is the WAL a slot may retain before status warns.
const slotWarnBytes = 1 << 30

// streamStatus adds the source's view to the target's streams.
func streamStatus(ctx context.Context, src *pgxpool.Pool, streams []checkpoints.Stream) []streamLag {
	out := make([]streamLag, len(streams))
	for i, s := range streams {
		out[i] = streamLag{Stream: s}
		if src == nil {
			continue
		}
		var lag, kept *int64
		var active bool
		err := src.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::bigint,
				(SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1),
				coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)`, s.Slot, s.AppliedLSN).Scan(&lag, &kept, &active)
		if err != nil {
			continue
		}
		out[i].LagBytes, out[i].RetainedBytes, out[i].Active = lag, kept, active
		if s.SourceTime != nil {
			secs := time.Since(*s.SourceTime).Seconds()
			out[i].LagSeconds = &secs
		}
	}
	return out
}

func printStreams(w io.Writer, streams []streamLag) {
	for _, s := range streams {
		a := s.Counts
		state := "following"
		switch {
		case s.CutoverAt != nil:
			state = "cut over " + s.CutoverAt.Format("2006-01-02 15:04:05")
		case !s.Active:
			state = "no follower connected"
		}
		fmt.Fprintf(w, "target: stream %q slot %s (%s): applied through %s (lanes: %d): %d inserts, %d updates, %d deletes in %d transactions; %d tenants changed\n",
			s.Name, s.Slot, state, s.AppliedLSN, s.Lanes, a.Inserts, a.Updates, a.Deletes, a.Transactions, s.TenantsCount)
		if s.LagBytes != nil {
			lag := fmt.Sprintf("  lag: %s behind the source", fmtBytes(max(*s.LagBytes, 0)))
			if s.LagSeconds != nil {
				lag += fmt.Sprintf(", last applied change committed on the source %.1fs ago", *s.LagSeconds)
			}
			fmt.Fprintln(w, lag)
		}
		if s.RetainedBytes != nil && *s.RetainedBytes > slotWarnBytes {
			fmt.Fprintf(w, "  WARNING: slot %s retains %s of WAL on the source; resume the follower, cut over, or end it with 'tenantmover cleanup --run %s'\n",
				s.Slot, fmtBytes(*s.RetainedBytes), s.Name)
		}
	}
}
