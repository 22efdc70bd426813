package migrate

import (
	"github.com/tenantmover/tenantmover/checkpoints"
	pgcopy "github.com/tenantmover/tenantmover/copy"
	"github.com/tenantmover/tenantmover/follow"
	"github.com/tenantmover/tenantmover/internal/phase"
	"github.com/tenantmover/tenantmover/verify"
)

// Statuses of a phase in the report: the checkpoint states of a phase's
// end, and skipped.
const (
	StatusDone    = checkpoints.Done
	StatusSkipped = "skipped"
)

// Report is a migration's report.
type Report struct {
	Run     string        `json:"run"`
	Source  string        `json:"source"` // redacted
	Target  string        `json:"target"`
	Citus   string        `json:"citus_version,omitempty"`
	Resumed bool          `json:"resumed"`
	Phases  []PhaseReport `json:"phases"`
	Orphans int64         `json:"orphans"`
	// TenantProblems are the rows the tenant-check phase found without a
	// tenant or pointing at another tenant's rows, with sample keys.
	TenantProblems []verify.Difference `json:"tenant_problems,omitempty"`
	Verify         *verify.Result      `json:"verify,omitempty"`
	// Follow is the follow phase's report (migrate --follow).
	Follow *follow.Report `json:"follow,omitempty"`
	// Match: verify ran and found no difference.
	Match    bool    `json:"match"`
	Seconds  float64 `json:"seconds"`
	Finished bool    `json:"finished"`
	// Paused: the run stopped at its time window's end, with work left.
	Paused bool `json:"paused,omitempty"`
	// Part is this process's part of the copy (Config.Copy.Part, "2/3").
	Part string `json:"part,omitempty"`
	// OthersCopying: this part's share of the copy is done while the run's
	// copy is not complete (or another part completed it): this process
	// stopped after the copy, and the part completing the copy goes on
	// with the foreign keys and verify. PartsLeft lists what the others
	// had left.
	OthersCopying bool              `json:"others_copying,omitempty"`
	PartsLeft     []pgcopy.PartLeft `json:"parts_left,omitempty"`
}

// PhaseReport is one phase's line of the report: its summary (Phase is
// its name), how it ended and a note.
type PhaseReport struct {
	phase.Summary
	// Status is done, skipped (done by an earlier run), failed or
	// interrupted.
	Status string `json:"status"`
	Note   string `json:"note,omitempty"`
}

func (r *Report) add(name string, p PhaseReport) {
	p.Phase = name
	r.Phases = append(r.Phases, p)
}
