package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress draws a bar on a terminal for the long parts of the story
// (schollz/progressbar), cleared when the part is done so that only the
// story stays. Its zero value draws nothing: when stderr is not a terminal
// (CI, a pipe, a file), or -progress=false.
type progress struct {
	w   io.Writer // nil: no bars
	bar *progressbar.ProgressBar
}

// stderrProgress draws on stderr if it is a terminal.
func stderrProgress(on bool) progress {
	if !on || !term.IsTerminal(int(os.Stderr.Fd())) {
		return progress{}
	}
	return progress{w: os.Stderr}
}

func (p *progress) start(what string, total int) {
	if p.w == nil {
		return
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(65*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true),
	)
}

func (p *progress) add(n int) {
	if p.bar != nil {
		p.bar.Add(n)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
