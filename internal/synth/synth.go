// Package synth generates synthetic LINE friends with realistic skew for
// benchmarks and demos: hundreds of tags, mostly sparse and a few dense;
// fields with few and with many distinct values; three scores; clicks,
// answers, a scenario and an experiment.
//
// Generation is deterministic for a seed. Friends are kept in a compact
// struct so that the plain per-friend loop the benchmarks compare against
// has the same data the index has.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Prefectures are the 47 prefectures of Japan, by population.
var Prefectures = []string{
	"東京都", "神奈川県", "大阪府", "愛知県", "埼玉県", "千葉県", "兵庫県", "北海道", "福岡県", "静岡県",
	"茨城県", "広島県", "京都府", "宮城県", "新潟県", "長野県", "岐阜県", "群馬県", "栃木県", "岡山県",
	"福島県", "三重県", "熊本県", "鹿児島県", "沖縄県", "滋賀県", "山口県", "愛媛県", "奈良県", "長崎県",
	"青森県", "岩手県", "石川県", "大分県", "宮崎県", "山形県", "富山県", "秋田県", "香川県", "和歌山県",
	"佐賀県", "山梨県", "福井県", "徳島県", "高知県", "島根県", "鳥取県",
}

// Genders and Plans are the choices of those fields.
var (
	Genders = []string{"female", "male", "other"}
	Plans   = []string{"free", "light", "standard", "premium"}
)

var (
	surnames = []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
		"吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水"}
	givens = []string{"ゆうこ", "けんた", "みか", "たろう", "さくら", "ひろし", "あや", "だいすけ", "まい", "しょう"}
)

// Tags is the number of tags; tag i is named "t<i>" and held by about
// 50%/(i+1)^0.9 of friends: t0 by half, t9 by 6%, t199 by 0.4%.
const Tags = 200

// TagShare is the share of friends holding tag i.
func TagShare(i int) float64 { return 0.5 / math.Pow(float64(i+1), 0.9) }

// Friend is one synthetic friend, compactly.
type Friend struct {
	Following    bool
	VIP          bool
	Gender       uint8 // index into Genders
	Area         uint8 // index into Prefectures
	Plan         uint8 // index into Plans
	Age          int16
	HasLastBuy   bool
	Name         string
	Memo         string
	Spend        int32
	Lead         int32
	Engagement   int32
	Recency      int32
	Birthday     int64   // Unix seconds
	LastPurchase int64   // Unix seconds; valid when HasLastBuy
	FollowedAt   int64   // Unix seconds
	ClickDays    []int16 // days before now of clicks on "campaign"
	Answer       int8    // 0 none, 1 yes, 2 no (question "q1")
	Step         int8    // step in scenario "trial", -1 when not in it
	Variant      int8    // 0 none, 1 A, 2 B in experiment "welcome"
	Tags         []uint8 // tag numbers
}

// Schema returns the schema of the synthetic friends.
func Schema() *segment.Schema {
	return segment.MustSchema(segment.SchemaConfig{
		Fields: []segment.Field{
			{Name: "gender", Type: stepcast.FieldChoice, Choices: Genders},
			{Name: "age", Type: stepcast.FieldInt},
			{Name: "area", Type: stepcast.FieldChoice, Choices: Prefectures},
			{Name: "plan", Type: stepcast.FieldChoice, Choices: Plans},
			{Name: "spend", Type: stepcast.FieldInt},
			{Name: "birthday", Type: stepcast.FieldTime},
			{Name: "last_purchase", Type: stepcast.FieldTime},
			{Name: "name", Type: stepcast.FieldString},
			{Name: "memo", Type: stepcast.FieldString},
			{Name: "vip", Type: stepcast.FieldBool},
		},
		Scores: []string{"lead", "engagement", "recency"},
		Segments: map[string]string{
			"metro": `area in ["東京都", "神奈川県", "千葉県", "埼玉県"]`,
		},
	})
}

// Generate returns n friends; friend i has FriendID i.
func Generate(n int, seed uint64, now time.Time) []Friend {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	fs := make([]Friend, n)
	start := now.AddDate(-3, 0, 0).Unix()
	span := now.Unix() - start
	areaW := zipfWeights(len(Prefectures), 1.0)
	nameW := zipfWeights(len(surnames)*len(givens)*1000, 0.8)
	for i := range fs {
		f := &fs[i]
		f.Following = r.Float64() < 0.85
		f.VIP = r.Float64() < 0.03
		f.Gender = pick(r, []float64{0.55, 0.40, 0.05})
		f.Area = uint8(pickW(r, areaW))
		f.Plan = pick(r, []float64{0.70, 0.15, 0.10, 0.05})
		f.Age = int16(clamp(int(r.NormFloat64()*12+36), 13, 90))
		if r.Float64() < 0.7 {
			f.Spend = int32(min(1_000_000, r.ExpFloat64()*20000))
		}
		f.Lead = int32(min(200, r.ExpFloat64()*12))
		f.Engagement = int32(r.IntN(1001))
		f.Recency = int32(r.IntN(101))
		f.Birthday = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + r.Int64N(60*365*86400)
		if r.Float64() < 0.4 {
			f.HasLastBuy = true
			f.LastPurchase = now.Unix() - r.Int64N(2*365*86400)
		}
		k := pickW(r, nameW)
		f.Name = fmt.Sprintf("%s%s%d", surnames[k%len(surnames)], givens[(k/len(surnames))%len(givens)], k/(len(surnames)*len(givens)))
		if r.Float64() < 0.02 {
			f.Memo = fmt.Sprintf("memo-%d", r.IntN(1000))
			if r.IntN(10) == 0 {
				f.Memo = "VIP対応 " + f.Memo
			}
		}
		f.FollowedAt = start + int64(i)*span/int64(max(n, 1)) + r.Int64N(86400) - 43200
		if r.Float64() < 0.12 {
			for range 1 + r.IntN(3) {
				f.ClickDays = append(f.ClickDays, int16(r.IntN(60)))
			}
		}
		if r.Float64() < 0.2 {
			f.Answer = int8(1 + r.IntN(2))
		}
		f.Step = -1
		if r.Float64() < 0.1 {
			f.Step = int8(r.IntN(5))
		}
		if r.Float64() < 0.5 {
			f.Variant = int8(1 + r.IntN(2))
		}
	}
	// Tags by skip sampling: the gap to the next holder is geometric, so
	// the work is one draw per membership, not per friend and tag.
	for t := range Tags {
		p := TagShare(t)
		lg := math.Log1p(-p)
		for i := -1; ; {
			i += 1 + int(math.Log(1-r.Float64())/lg)
			if i >= n || i < 0 {
				break
			}
			fs[i].Tags = append(fs[i].Tags, uint8(t))
		}
	}
	return fs
}

// Load writes the friends into ix, in batches: friend i of fs as
// friend ID i.
func Load(ix *segment.Index, fs []Friend, now time.Time) error {
	return LoadAt(ix, fs, 0, now)
}

// LoadAt is Load of a part of the friends Generate made: fs[i] is friend
// ID first+i, as it is in Load of them all (so that a caller may load them
// a part at a time, to show progress).
func LoadAt(ix *segment.Index, fs []Friend, first int, now time.Time) error {
	const batchOps = 1 << 16
	var b segment.Batch
	for j := range fs {
		i := first + j
		f, id := &fs[j], stepcast.FriendID(i)
		b.Follow(id, time.Unix(f.FollowedAt, 0))
		if !f.Following {
			b.Unfollow(id)
		}
		b.SetField(id, "gender", Genders[f.Gender])
		b.SetField(id, "age", int64(f.Age))
		b.SetField(id, "area", Prefectures[f.Area])
		b.SetField(id, "plan", Plans[f.Plan])
		if f.Spend != 0 {
			b.SetField(id, "spend", int64(f.Spend))
		}
		b.SetField(id, "birthday", time.Unix(f.Birthday, 0))
		if f.HasLastBuy {
			b.SetField(id, "last_purchase", time.Unix(f.LastPurchase, 0))
		}
		b.SetField(id, "name", f.Name)
		if f.Memo != "" {
			b.SetField(id, "memo", f.Memo)
		}
		if f.VIP {
			b.SetField(id, "vip", true)
		}
		b.SetScore(id, "lead", int64(f.Lead))
		b.SetScore(id, "engagement", int64(f.Engagement))
		b.SetScore(id, "recency", int64(f.Recency))
		for _, t := range f.Tags {
			b.SetTag(id, TagName(int(t)))
		}
		for _, d := range f.ClickDays {
			b.RecordEvent(id, "click", "campaign", "", now.AddDate(0, 0, -int(d)))
		}
		if f.Answer > 0 {
			b.RecordEvent(id, "answer", "q1", []string{"", "yes", "no"}[f.Answer], now.AddDate(0, 0, -int(i%30)))
		}
		if f.Step >= 0 {
			b.SetScenarioStep(id, "trial", int(f.Step))
		}
		if f.Variant > 0 {
			b.SetVariant(id, "welcome", []string{"", "A", "B"}[f.Variant])
		}
		if b.Len() >= batchOps {
			if err := ix.Apply(&b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	return ix.Apply(&b)
}

var tagNames = func() []string {
	names := make([]string, Tags)
	for i := range names {
		names[i] = fmt.Sprintf("t%d", i)
	}
	return names
}()

// TagName returns the name of tag i.
func TagName(i int) string { return tagNames[i] }

func zipfWeights(n int, s float64) []float64 {
	cum := make([]float64, n)
	var sum float64
	for i := range cum {
		sum += 1 / math.Pow(float64(i+1), s)
		cum[i] = sum
	}
	for i := range cum {
		cum[i] /= sum
	}
	return cum
}

// pickW draws an index from cumulative weights.
func pickW(r *rand.Rand, cum []float64) int {
	x := r.Float64()
	lo, hi := 0, len(cum)-1
	for lo < hi {
		m := (lo + hi) / 2
		if cum[m] < x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func pick(r *rand.Rand, probs []float64) uint8 {
	x := r.Float64()
	for i, p := range probs {
		if x < p {
			return uint8(i)
		}
		x -= p
	}
	return uint8(len(probs) - 1)
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
