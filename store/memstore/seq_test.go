package memstore

import "testing"

// TestSeq: a seq holds what a slice given the same appends holds, across
// the chunks that grow and those of the largest size.
func TestSeq(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 4079, 4080, 4081, 8176, 8177, 20000} {
		var s seq[int]
		var o seq[int]
		want := make([]int, 0, n)
		for i := range n {
			s.Append(i * 7)
			want = append(want, i*7)
		}
		o.AppendSeq(&s)
		if s.Len() != n || o.Len() != n {
			t.Fatalf("n=%d: Len %d, copy's %d", n, s.Len(), o.Len())
		}
		for i, w := range want {
			if *s.At(i) != w || *o.At(i) != w {
				t.Fatalf("n=%d: At(%d) = %d, copy's %d; want %d", n, i, *s.At(i), *o.At(i), w)
			}
		}
		held := 0
		for _, c := range s.chunks {
			held += len(c)
		}
		if held > max(2*n, seqFirst) && held > n+seqMax {
			t.Errorf("n=%d: chunks hold %d", n, held)
		}
	}
}

func TestSeqInPlace(t *testing.T) {
	var s seq[int]
	for i := range 5000 {
		s.Append(i)
	}
	p := s.At(100)
	for i := range 10000 {
		s.Append(i)
	}
	*p = -1
	if *s.At(100) != -1 {
		t.Fatal("an element moved when the seq grew")
	}
}
