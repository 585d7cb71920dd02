package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// dietCampaign is the gym's segment delivery to one interest (関心度に応
// じたセグメント配信): the diet course's feature, at 12:00 on the 21st (or
// two thirds into -days), to the friends who want to lose weight and have
// not inquired yet — the segment evaluated when it goes.
func dietCampaign(start time.Time, days int) engine.Broadcast {
	y, m, d := start.Date()
	at := time.Date(y, m, d+max(1, days*2/3), 12, 0, 0, 0, start.Location())
	return engine.Broadcast{
		Name:    "diet-feature-" + at.Format("2006-01"),
		Segment: `segment("diet") && !tag("inquired")`,
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{display_name|お客}}様、食事指導つきダイエットコースの` +
			`体験者の声をまとめました。体験のお問い合わせはこのトークで「問い合わせ」と送ってください https://example.com/diet/voices"}`)},
		At: at,
	}
}

// scheduleCampaign previews the campaign the morning it goes and
// schedules it.
func scheduleCampaign(w io.Writer, s *casesim.Sim, b engine.Broadcast) {
	at := b.At.Add(-3 * time.Hour)
	s.Do(at, func(ctx context.Context) error {
		p, err := s.Account.Preview(ctx, b, engine.PreviewOptions{})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  at %s: the campaign %q previewed — %s: %d friends now, %d messages against the quota — and scheduled for %s\n",
			s.Local(at), b.Name, b.Segment, p.Audience, p.Recipients, s.Local(b.At))
		return s.Account.ScheduleBroadcast(ctx, b)
	})
}

// campaignAudience is who the campaign at t goes to, by the plan: friends
// who follow, whose interest (answered before t) is diet, and who have
// not inquired before t.
func campaignAudience(fs []friend, t time.Time) int {
	n := 0
	for _, f := range fs {
		if !f.follow.Before(t) || (!f.block.IsZero() && f.block.Before(t)) || (!f.inquiry.IsZero() && f.inquiry.Before(t)) {
			continue
		}
		interest := ""
		for _, a := range f.answers {
			if a.q == "interest" && a.at.Before(t) {
				interest = a.v
			}
		}
		if interest == "diet" {
			n++
		}
	}
	return n
}
