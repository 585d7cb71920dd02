module github.com/stepcast/stepcast

go 1.26

require (
	github.com/RoaringBitmap/roaring/v2 v2.30.0
	github.com/expr-lang/expr v1.17.8
	go.etcd.io/bbolt v1.4.3
)

require (
	github.com/bits-and-blooms/bitset v1.24.4 // indirect
	github.com/mschoch/smat v0.2.0 // indirect
	golang.org/x/sync v0.13.0 // indirect
	golang.org/x/sys v0.32.0 // indirect
)
