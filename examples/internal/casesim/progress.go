package casesim

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar is a progress bar on stderr for a long part of a run, counting in
// simulated days; nil (not a terminal, or in tests) shows nothing.
type Bar struct {
	b    *progressbar.ProgressBar
	o    *Options
	days int64 // the days shown
}

// NewBar returns a bar described by what, or nil when o.Progress is off.
func (o *Options) NewBar(what string, total int64) *Bar {
	if !o.Progress {
		return nil
	}
	b := &Bar{o: o, b: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(o.Err),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
	)}
	o.shown = b
	return b
}

// Set shows the simulated time done, in days (the bar's total).
func (b *Bar) Set(done time.Duration) {
	if b == nil {
		return
	}
	if d := int64(done / (24 * time.Hour)); d != b.days {
		b.days = d
		b.b.Set64(d)
	}
}

// Add counts n more of a bar's units.
func (b *Bar) Add(n int) {
	if b != nil {
		b.b.Add(n)
	}
}

// Done clears the bar.
func (b *Bar) Done() {
	if b != nil {
		b.b.Finish()
		if b.o.shown == b {
			b.o.shown = nil
		}
	}
}

// barWriter is Options.Out when bars are shown: it clears the bar on the
// terminal before each write, so that what a program prints during a run
// (a broadcast's preview) starts a line of its own instead of running on
// from the bar's; the bar is drawn again, below it, at its next step.
type barWriter struct {
	o *Options
	w io.Writer
}

func (w barWriter) Write(p []byte) (int, error) {
	if b := w.o.shown; b != nil {
		b.b.Clear()
	}
	return w.w.Write(p)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
