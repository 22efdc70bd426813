package sample

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
)

// Params size the monolith. Counts are exact: Generate makes exactly Stores
// stores, Products products and so on, Companies*CampaignsPerCompany campaigns
// and Companies*MembershipsPerCompany company_users rows.
type Params struct {
	Stores    int // tenants of the store group; at least 1
	Products  int // spread over the stores by the skew law
	Purchases int // each of a uniformly chosen product; needs Products > 0
	Refunds   int // each of a uniformly chosen purchase; needs Purchases > 0

	Companies             int // tenants of the company group
	Users                 int // auth_user rows, shared by all companies
	CampaignsPerCompany   int // on average: campaigns follow the skew law too
	MembershipsPerCompany int // exactly, distinct users; at most Users

	// Skew is the power-law exponent of tenant sizes (see the package doc):
	// 0 is uniform, 1 is Zipf's law, larger is more extreme.
	Skew float64
	// Seed selects the data: the same Params give the same rows. Any finite
	// value.
	Seed float64
}

// Small is fast (well under two seconds): for tests.
func Small() Params {
	return Params{
		Stores: 50, Products: 2_000, Purchases: 20_000, Refunds: 2_000,
		Companies: 20, Users: 200, CampaignsPerCompany: 5, MembershipsPerCompany: 10,
		Skew: 1, Seed: 0.42,
	}
}

// Medium has half a million purchases: for demos and quick benchmarks.
func Medium() Params {
	return Params{
		Stores: 500, Products: 50_000, Purchases: 500_000, Refunds: 50_000,
		Companies: 200, Users: 5_000, CampaignsPerCompany: 20, MembershipsPerCompany: 50,
		Skew: 1, Seed: 0.42,
	}
}

// Large has five million purchases: the benchmark size.
func Large() Params {
	return Params{
		Stores: 2_000, Products: 250_000, Purchases: 5_000_000, Refunds: 500_000,
		Companies: 1_000, Users: 50_000, CampaignsPerCompany: 50, MembershipsPerCompany: 100,
		Skew: 1, Seed: 0.42,
	}
}

var sizes = map[string]func() Params{"small": Small, "medium": Medium, "large": Large}

// SizeNames lists the names Size accepts.
func SizeNames() []string {
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return sizes[names[i]]().Purchases < sizes[names[j]]().Purchases })
	return names
}

// Size returns the preset named "small", "medium" or "large".
func Size(name string) (Params, error) {
	f, ok := sizes[strings.ToLower(name)]
	if !ok {
		return Params{}, fmt.Errorf("unknown monolith size %q (want one of %s)", name, strings.Join(SizeNames(), ", "))
	}
	return f(), nil
}

// Validate reports every parameter that cannot be generated.
func (p Params) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(p.Stores >= 1, "stores must be at least 1, got %d", p.Stores)
	for name, v := range map[string]int{
		"products": p.Products, "purchases": p.Purchases, "refunds": p.Refunds, "companies": p.Companies,
		"users": p.Users, "campaigns per company": p.CampaignsPerCompany, "memberships per company": p.MembershipsPerCompany,
	} {
		check(v >= 0, "%s must not be negative, got %d", name, v)
	}
	check(p.Purchases == 0 || p.Products > 0, "purchases need products")
	check(p.Refunds == 0 || p.Purchases > 0, "refunds need purchases")
	check(p.MembershipsPerCompany <= p.Users, "memberships per company (%d) cannot exceed users (%d): memberships are distinct", p.MembershipsPerCompany, p.Users)
	check(p.Skew >= 0 && !math.IsInf(p.Skew, 0) && !math.IsNaN(p.Skew), "skew must be a finite number >= 0, got %v", p.Skew)
	check(!math.IsInf(p.Seed, 0) && !math.IsNaN(p.Seed), "seed must be finite, got %v", p.Seed)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	if len(errs) > 0 {
		return fmt.Errorf("invalid monolith parameters: %w", errors.Join(errs...))
	}
	return nil
}

// Share is the expected fraction of products (and so of purchases and
// refunds) that store i of n gets under skew s; i counts from 1. Campaigns
// follow the same law over companies.
func Share(n int, s float64, i int) float64 {
	if i < 1 || i > n {
		return 0
	}
	if isZipfOne(s) {
		return math.Log(float64(i+1)/float64(i)) / math.Log(float64(n+1))
	}
	f := func(x int) float64 { return math.Pow(float64(x), 1-s) }
	return (f(i+1) - f(i)) / (f(n+1) - 1)
}

// TopShare is the expected fraction of products held by the k largest of n
// tenants (stores 1..k).
func TopShare(n int, s float64, k int) float64 {
	var sum float64
	for i := 1; i <= k && i <= n; i++ {
		sum += Share(n, s, i)
	}
	return sum
}

func isZipfOne(s float64) bool { return math.Abs(s-1) < 1e-9 }

// chunkSeed derives the setseed argument (in [-1, 1]) for one chunk of one
// table from the user's seed, so chunks and tables get independent streams.
func (p Params) chunkSeed(table string, chunk int64) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%x/%s/%d", math.Float64bits(p.Seed), table, chunk)
	return float64(h.Sum64()>>11)/float64(1<<53)*2 - 1
}
