package casesim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestBinomial(t *testing.T) {
	cases := []struct {
		name   string
		n      int
		p      float64
		lo, hi float64
	}{
		{"the music school's 11.2% of 2,000", 2000, 0.112, 153, 295}, // 224 ± 5×14.1
		{"certain", 100, 1, 99, 101},
		{"never", 100, 0, 0, 1},
		{"none", 0, 0.5, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lo, hi := Binomial(c.n, c.p)
			if lo != c.lo || hi != c.hi {
				t.Errorf("Binomial(%d, %v) = %v, %v; want %v, %v", c.n, c.p, lo, hi, c.lo, c.hi)
			}
		})
	}
}

// Sum of equal probabilities is Binomial.
func TestSumIsBinomial(t *testing.T) {
	ps := make([]float64, 500)
	for i := range ps {
		ps[i] = 0.3
	}
	mean, lo, hi := Sum(ps)
	blo, bhi := Binomial(500, 0.3)
	if math.Abs(mean-150) > 1e-9 || lo != blo || hi != bhi {
		t.Errorf("Sum = %v, %v, %v; Binomial %v, %v", mean, lo, hi, blo, bhi)
	}
}

func TestWriteFigures(t *testing.T) {
	var b bytes.Buffer
	err := WriteFigures(&b, []Figure{
		{Name: "in", Value: 5, Format: "%.0f", Low: 1, Hi: 9},
		{Name: "exact", Value: 3, Format: "%.0f", Low: 3, Hi: 3, Exact: true},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	b.Reset()
	err = WriteFigures(&b, []Figure{{Name: "out of bounds", Value: 10, Format: "%.0f", Low: 1, Hi: 9}})
	if !errors.Is(err, ErrCheck) || !bytes.Contains(b.Bytes(), []byte("✗ in 1–9")) {
		t.Errorf("err %v, output\n%s", err, b.String())
	}
}

func TestTableAlignsJapanese(t *testing.T) {
	tab := NewTable("", "lr")
	tab.Row("area", "friends")
	tab.Row("東京都", 2216)
	tab.Row("other", 7)
	var b bytes.Buffer
	if err := tab.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := "area    friends\n東京都     2216\nother         7\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if bad := Misaligned("\n"+b.String(), "area", 2); len(bad) > 0 {
		t.Errorf("Misaligned: %q", bad)
	}
}

func TestPostbackForm(t *testing.T) {
	cases := []struct {
		name, value       string
		wantName, wantVal string
	}{
		{"name=value", "area=tokyo", "area", "tokyo"},
		{"an = in the value", "q=a=b", "q", "a=b"},
		{"no =", "hello", "", "hello"},
		{"empty name", "=x", "", "=x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got stepcast.Event
			rec := recorderFunc(func(_ context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
				got = evs[0]
				return make([]stepcast.Recorded, len(evs)), nil
			})
			postbackForm{rec}.Record(context.Background(), stepcast.Event{Kind: stepcast.EventPostback, Value: c.value})
			if got.Name != c.wantName || got.Value != c.wantVal {
				t.Errorf("got %q %q, want %q %q", got.Name, got.Value, c.wantName, c.wantVal)
			}
		})
	}
}

type recorderFunc func(context.Context, ...stepcast.Event) ([]stepcast.Recorded, error)

func (f recorderFunc) Record(ctx context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
	return f(ctx, evs...)
}

func TestClockNeverGoesBack(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := &Clock{t: t0}
	c.Set(t0.Add(time.Hour))
	c.Set(t0)
	if !c.Now().Equal(t0.Add(time.Hour)) {
		t.Errorf("Now = %v", c.Now())
	}
}
