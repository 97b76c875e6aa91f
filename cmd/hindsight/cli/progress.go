package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	replayv1 "github.com/hindsight-dev/hindsight/proto/hindsight/replay/v1"
)

// progress shows a loading replay's progress: files, events, rate and ETA.
type progress interface {
	update(r *replayv1.Replay)
	done()
}

// newProgress draws a bar on a terminal and writes plain lines (one per change)
// anywhere else, so logs of scripts and CI stay readable.
func newProgress(w io.Writer, name string) progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{bar: progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(name),
			progressbar.OptionSetWidth(24),
			progressbar.OptionSetPredictTime(false), // the server's ETA is in the description
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionClearOnFinish(),
		), name: name}
	}
	return &lineProgress{w: w, name: name}
}

// summary is one line of progress: "loading 3/10 files, 12345 events, 4100 events/s, ETA 3s".
func summary(r *replayv1.Replay) string {
	p := r.GetProgress()
	s := fmt.Sprintf("%s %d/%d files, %d events", stateName(r.GetState()), p.GetFilesDone(), p.GetFilesTotal(), p.GetEventsLoaded())
	if e := r.GetEstimate().GetEvents(); e > 0 {
		s += fmt.Sprintf(" of ~%d", e)
	}
	if rate := p.GetEventsPerSecond(); rate > 0 {
		s += fmt.Sprintf(", %.0f events/s", rate)
	}
	if eta := p.GetEta().AsDuration(); p.GetEta() != nil && eta > 0 && r.GetState() == replayv1.State_STATE_LOADING {
		s += ", ETA " + short(eta)
	}
	return s
}

type barProgress struct {
	bar  *progressbar.ProgressBar
	name string
}

func (b *barProgress) update(r *replayv1.Replay) {
	p := r.GetProgress()
	// Bytes are the finest measure of work done; files when sizes are unknown.
	total, done := p.GetBytesTotal(), p.GetBytesDone()
	if total <= 0 {
		total, done = p.GetFilesTotal(), p.GetFilesDone()
	}
	if total > 0 && b.bar.GetMax64() != total {
		b.bar.ChangeMax64(total)
	}
	b.bar.Describe(b.name + ": " + summary(r))
	_ = b.bar.Set64(done)
}

func (b *barProgress) done() { _ = b.bar.Finish() }

type lineProgress struct {
	w          io.Writer
	name, last string
}

func (l *lineProgress) update(r *replayv1.Replay) {
	if s := summary(r); s != l.last {
		fmt.Fprintf(l.w, "replay %s: %s\n", l.name, s)
		l.last = s
	}
}

func (l *lineProgress) done() {}
