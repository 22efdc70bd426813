package sample

import (
	"fmt"
	"math"
)

// Word lists the text columns draw from. They hold what breaks naive
// copying and checksumming: quotes, backslashes (and COPY's own \N), tabs,
// CR/LF newlines, the empty string and the word NULL (neither is a NULL),
// accents, CJK and emoji.
var (
	storeNames = []string{"Acme", "Globex", "Initech", "Umbrella", "Café Zoë", "東京マート", "O'Reilly & Sons",
		`The "Best" Shop`, "Müller Bäckerei", "Emporium 🛒", `Back\slash Books`, "Tab\tTraders"}
	adjectives = []string{"Small", "Large", "Blue", "Organic", "Vintage", "Ergonomic", "Süß", "Ünïque", `"Premium"`, "Kid's"}
	nouns      = []string{"Chair", "Lamp", "Teapot", "Notebook", "Backpack", "Guitar", "Käse", "茶碗", "Bicycle", "Clock"}
	texts      = []string{
		"A perfectly ordinary product.",
		"Handmade.\nShips in 2–3 days.",
		`Contains "quotes" and 'apostrophes'.`,
		`Path: C:\Users\shop\item.txt`,
		"Tab\tseparated\tvalues",
		"Ünïcödé déscription — naïve café, 東京, emoji 🎁",
		"Line one\r\nLine two (CRLF)",
		"",
		"NULL",
		`\N is not a null here`,
	}
	streets       = []string{"Main St", "Hauptstraße", "Rue de l'Église", `"Old" Mill Rd`, "Calle Ñandú", "Baker Street"}
	cities        = []string{"Springfield", "Zürich", "São Paulo", "東京", "Reykjavík", "New York, NY"}
	reasons       = []string{"damaged", "wrong size", "changed my mind", "arrived late\nand broken", `customer said "never again"`, "défectueux"}
	colors        = []string{"red", "green", "blue", "schwarz", "青", "off-white"}
	companyNames  = []string{"Initrode", "Vandelay Industries", "Soylent", "Ærøskøbing ApS", `"Quoted" LLC`, "Wayne & Sons", "北京科技"}
	campaignNames = []string{"Spring sale", "Black Friday", "Rentrée", "新年", `"Flash" deal`, `Back\slash promo`}
	userPrefixes  = []string{"user", "zoë", "jürgen", "o'neil", "ユーザー", "ana"}
)

// binder collects bind parameters while a statement's SQL is built. $1 and
// $2 are reserved for the chunk's id range.
type binder struct{ args []any }

func newBinder() *binder { return &binder{args: []any{nil, nil}} }

func (b *binder) bind(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}

// pick is one random element of words.
func (b *binder) pick(words []string) string {
	return fmt.Sprintf("(%s::text[])[1 + floor(random() * %d)::int]", b.bind(words), len(words))
}

// zipf is a random tenant id in 1..n under skew s (see the package doc).
func (b *binder) zipf(n int, s float64) string {
	var x string
	if isZipfOne(s) {
		x = fmt.Sprintf("power(%s::float8, random())", b.bind(float64(n+1)))
	} else {
		a := math.Pow(float64(n+1), 1-s) - 1
		x = fmt.Sprintf("power(1 + random() * %s::float8, %s::float8)", b.bind(a), b.bind(1/(1-s)))
	}
	return fmt.Sprintf("least(%s::bigint, greatest(1, floor(%s)))::bigint", b.bind(int64(n)), x)
}

// uniform is a random id in 1..n.
func (b *binder) uniform(n int) string {
	return fmt.Sprintf("(1 + floor(random() * %s::bigint))::bigint", b.bind(int64(n)))
}

// address is a two-line postal address.
func (b *binder) address() string {
	return fmt.Sprintf("(1 + floor(random() * 9999))::int || ' ' || %s || chr(10) || %s", b.pick(streets), b.pick(cities))
}

// timestamp is a random instant with microseconds in the days after start
// (a constant from this file, never user input).
func timestamp(start string, days int) string {
	return fmt.Sprintf("(timestamptz '%s 00:00:00+00' + random() * interval '%d days')", start, days)
}

// orNull is expr, or NULL with probability pct percent.
func orNull(pct int, expr string) string {
	return fmt.Sprintf("CASE WHEN random() < %d / 100.0 THEN NULL ELSE %s END", pct, expr)
}

// money is a random amount with cents between lo and hi.
func money(lo, hi int) string {
	return fmt.Sprintf("round((%d + random() * %d)::numeric, 2)", lo, hi-lo)
}
