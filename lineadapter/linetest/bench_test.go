package linetest_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// BenchmarkMulticast measures one multicast over loopback HTTP, by
// recipients, with the server's own rules and with LINE's specifications
// too (when STEPCAST_LINE_OPENAPI is set).
func BenchmarkMulticast(b *testing.B) {
	var specs *linetest.Specs
	if dir := os.Getenv(linetest.EnvSpecDir); dir != "" {
		var err error
		if specs, err = linetest.LoadSpecs(dir); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1, 100, 500} {
		body := jsonOf(b, map[string]any{"to": users(n), "messages": texts(5)})
		for _, withSpecs := range []bool{false, true} {
			if withSpecs && specs == nil {
				continue
			}
			name := fmt.Sprintf("recipients=%d/rules", n)
			var opts []linetest.Option
			if withSpecs {
				name = fmt.Sprintf("recipients=%d/rules+schema", n)
				opts = append(opts, linetest.WithSpecs(specs))
			}
			b.Run(name, func(b *testing.B) {
				srv := linetest.NewServer(opts...)
				defer srv.Close()
				c := srv.Client()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i++; i%1000 == 0 {
						srv.Reset()
					}
					req, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/multicast", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
					req.Header.Set("Content-Type", "application/json")
					res, err := c.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Fatalf("status %d", res.StatusCode)
					}
				}
			})
		}
	}
}
