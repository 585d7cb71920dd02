package segment

// codes is a dense per-friend column of unsigned codes whose width (1, 2, 4
// or 8 bytes) grows with the largest code stored, so that a column of few
// distinct values costs one byte per friend. Code 0 means "unset".
type codes struct {
	width uint8 // bytes per code: 1, 2, 4 or 8
	n     int   // length in friends
	u8    []uint8
	u16   []uint16
	u32   []uint32
	u64   []uint64
}

func newCodes() codes { return codes{width: 1} }

func (c *codes) len() int { return c.n }

func (c *codes) get(i uint32) uint64 {
	if int(i) >= c.n {
		return 0
	}
	switch c.width {
	case 1:
		return uint64(c.u8[i])
	case 2:
		return uint64(c.u16[i])
	case 4:
		return uint64(c.u32[i])
	}
	return c.u64[i]
}

// grow makes the column at least n long; new entries are 0.
func (c *codes) grow(n int) {
	if n <= c.n {
		return
	}
	switch c.width {
	case 1:
		c.u8 = growSlice(c.u8, n)
	case 2:
		c.u16 = growSlice(c.u16, n)
	case 4:
		c.u32 = growSlice(c.u32, n)
	default:
		c.u64 = growSlice(c.u64, n)
	}
	c.n = n
}

func growSlice[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	c := max(cap(s)+cap(s)/4, n, 1024)
	out := make([]T, n, c)
	copy(out, s)
	return out
}

func widthFor(v uint64) uint8 {
	switch {
	case v <= 0xff:
		return 1
	case v <= 0xffff:
		return 2
	case v <= 0xffffffff:
		return 4
	}
	return 8
}

func (c *codes) set(i uint32, v uint64) {
	if int(i) >= c.n {
		c.grow(int(i) + 1)
	}
	if w := widthFor(v); w > c.width {
		c.widen(w)
	}
	c.setRaw(i, v)
}

// widen re-encodes the column at width w; it runs at most three times in a
// column's life, so its O(n) cost is amortized.
func (c *codes) widen(w uint8) {
	old := *c
	*c = codes{width: w}
	c.grow(old.n)
	for i := range old.n {
		if v := old.get(uint32(i)); v != 0 {
			c.setRaw(uint32(i), v)
		}
	}
}

// setRaw stores v at i; the width must already hold it.
func (c *codes) setRaw(i uint32, v uint64) {
	switch c.width {
	case 1:
		c.u8[i] = uint8(v)
	case 2:
		c.u16[i] = uint16(v)
	case 4:
		c.u32[i] = uint32(v)
	default:
		c.u64[i] = v
	}
}

func (c *codes) bytes() uint64 {
	return uint64(cap(c.u8)) + 2*uint64(cap(c.u16)) + 4*uint64(cap(c.u32)) + 8*uint64(cap(c.u64))
}

// compact drops the spare capacity of the column (a copy: clipping alone
// would keep the old backing array alive).
func (c *codes) compact() {
	c.u8, c.u16, c.u32, c.u64 = exact(c.u8), exact(c.u16), exact(c.u32), exact(c.u64)
}

func exact[T any](s []T) []T {
	if s == nil || len(s) == cap(s) {
		return s
	}
	out := make([]T, len(s))
	copy(out, s)
	return out
}
