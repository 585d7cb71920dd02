package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/stepcast/stepcast"
)

// The export format, version 2: JSON Lines, one object per line, each
// line ending in "\n"; JSON names in snake_case.
//
//	{"format":"stepcast-export","version":2,"account":"clinic"}
//	{"friend":{"id":1,"user":"U…","display_name":"…","time_zone":"Asia/Tokyo","following":true,"followed_at":"…","unfollowed_at":"…","tags":["vip"],"fields":{"age":{"type":"int","value":34}},"scores":{"lead":12},"scenarios":{"trial":2},"variants":{"welcome":"B"}}}
//	…every friend, by ascending id…
//	{"change":{"seq":1,"friend":1,"kind":"SetField","name":"age","value":{"type":"int","value":34},"number":0,"text":"…","at":"…"}}
//	…the whole change log, by ascending seq…
//	{"event":{"seq":1,"id":"…","friend":1,"kind":"conversion","name":"…","value":"…","amount":4980.5,"data":{"route":"qr-7"},"at":"…"}}
//	…the whole event log, by ascending seq…
//	{"timer":{"friend":1,"key":"scenario/trial","due":"…","state":"<base64>"}}
//	…every timer, by friend and key, the account's own (friend 0) first
//	(versions and leases are not exported)…
//	{"definition":{"kind":"scenario","name":"trial","body":"<base64>","updated_at":"…"}}
//	…every definition, by kind and name (versions are not exported)…
//	{"tally":{"experiment":"welcome","variant":"B","recipients":100,"clickers":7,"converters":2,"revenue":12000.5}}
//	…every experiment tally, by experiment and variant…
//	{"delivery":{"id":1,"key":"…","retry_key":"<uuid>","kind":"multicast","payload":"<base64>","cause":"broadcast:spring-sale","friends":[1,2],"priority":5,"status":"sent","attempts":1,"next_at":"…","first_attempt_at":"…","error":"…","reason":"…","request_id":"…","created_at":"…","done_at":"…"}}
//	…the outbox, by ascending id (leases are not exported); kind is one of
//	stepcast.DeliveryKinds, status "pending", "sent", "failed" or
//	"cancelled"…
//	{"end":{"friends":3,"changes":23,"events":2,"timers":2,"definitions":2,"tallies":2,"deliveries":4,"sha256":"<hex>"}}
//
// Empty values are left out (omitempty), except times, which read
// "0001-01-01T00:00:00Z" when unset (a delivery's first_attempt_at and
// done_at are left out).
// Times are RFC 3339 in UTC to the microsecond; map keys are sorted; the
// same data exports to the same bytes from every backend.
//
// The last line, the trailer, counts the records of each section and
// holds the SHA-256 of every byte before it, from the header's first byte
// to the newline before the trailer. Import refuses a file whose trailer is
// missing (it was cut short, even at a line boundary), does not match its
// records or its bytes (it was altered), or is followed by anything: each
// with the line at which it was found.
//
// A friend's record is a pure function of its change log, so Import
// rebuilds records by replaying the log and refuses a friend line that
// differs from its rebuild in any field, naming its line. Records of every
// other section are checked as when they were first written (limits,
// order) and by the checksum.
//
// Version 1, which Export wrote before, is still read: the same lines
// without a trailer, tallies and deliveries with Go's field names
// ("Experiment", "RetryKey") and a numeric delivery status (1 pending,
// 2 sent, 3 failed). A version 1 file has no trailer, so a cut at a line
// boundary cannot be told from its end: Import cannot check it for
// truncation, nor for alterations beyond what a friend's rebuild shows.

// pageSize is how many records Export reads at a time.
const pageSize = 1000

// ExportVersion is the version of the export format Export writes; Import
// reads it and version 1.
const ExportVersion = 2

// Export writes all of account's data to w in the export format, from one
// consistent snapshot. On error, what was written so far has no trailer:
// Import refuses it. An account ID AccountID.Validate refuses is ErrInvalid,
// and nothing is written.
func Export(ctx context.Context, s Store, account AccountID, w io.Writer) error {
	if err := account.Validate(); err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	x := &exporter{enc: json.NewEncoder(bw)}
	x.enc.SetEscapeHTML(false)
	err := s.View(ctx, account, func(tx ReadTx) error {
		if err := x.enc.Encode(exportHeader{Format: exportFormat, Version: ExportVersion, Account: account}); err != nil {
			return err
		}
		return x.write(ctx, tx)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		end := trailerOf(x.counts, sum.Sum(nil))
		var b []byte
		if b, err = json.Marshal(exportLine{End: &end}); err == nil {
			_, err = w.Write(append(b, '\n'))
		}
	}
	if err != nil {
		return fmt.Errorf("store: export %q: %w", account, err)
	}
	return nil
}

type exporter struct {
	enc    *json.Encoder
	counts [sections]int
}

// put writes one record of section sec; what names it in an error.
func (x *exporter) put(sec int, l exportLine, what func() string) error {
	if err := x.enc.Encode(l); err != nil {
		return fmt.Errorf("%s: %w", what(), err)
	}
	x.counts[sec]++
	return nil
}

func (x *exporter) write(ctx context.Context, tx ReadTx) error {
	deliveries := func(after uint64, limit int) ([]Delivery, error) {
		return tx.Deliveries(DeliveryFilter{After: after, Limit: limit})
	}
	for _, section := range []func() error{
		func() error {
			return each(ctx, tx.Friends, func(f Friend) stepcast.FriendID { return f.ID }, func(f Friend) error {
				return x.put(secFriends, exportLine{Friend: &f}, func() string { return fmt.Sprintf("friend %d", f.ID) })
			})
		},
		func() error {
			return each(ctx, tx.Changes, func(c Change) uint64 { return c.Seq }, func(c Change) error {
				return x.put(secChanges, exportLine{Change: changeOut(c)}, func() string { return fmt.Sprintf("change %d", c.Seq) })
			})
		},
		func() error {
			return each(ctx, tx.Events, func(e Event) uint64 { return e.Seq }, func(e Event) error {
				return x.put(secEvents, exportLine{Event: eventOut(e)}, func() string { return fmt.Sprintf("event %d", e.Seq) })
			})
		},
		func() error { return x.writeTimers(ctx, tx) },
		func() error {
			return all(tx.Definitions(""))(func(d Definition) error {
				l := defLine{Kind: d.Kind, Name: d.Name, Body: d.Body, UpdatedAt: d.UpdatedAt}
				return x.put(secDefinitions, exportLine{Def: &l}, func() string { return "definition " + stepcast.Quote(d.Kind+"/"+d.Name) })
			})
		},
		func() error {
			return all(tx.Tallies(""))(func(t Tally) error {
				l := tallyOut(t)
				return x.put(secTallies, exportLine{Tally: &l}, func() string { return "tally " + stepcast.Quote(t.Experiment+"/"+t.Variant) })
			})
		},
		func() error {
			return each(ctx, deliveries, func(d Delivery) uint64 { return d.ID }, func(d Delivery) error {
				l := deliveryOut(d)
				return x.put(secDeliveries, exportLine{Del: &l}, func() string { return fmt.Sprintf("delivery %d", d.ID) })
			})
		},
	} {
		if err := section(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// writeTimers writes the account's own timers, then every friend's, by
// friend and key.
func (x *exporter) writeTimers(ctx context.Context, tx ReadTx) error {
	write := func(friend stepcast.FriendID) error {
		return all(tx.FriendTimers(friend))(func(tm Timer) error {
			l := timerLine{Friend: tm.Friend, Key: tm.Key, Due: tm.Due.UTC().Truncate(time.Microsecond), State: tm.State}
			return x.put(secTimers, exportLine{Timer: &l}, func() string { return fmt.Sprintf("timer %d/%s", tm.Friend, stepcast.Quote(tm.Key)) })
		})
	}
	if err := write(0); err != nil {
		return err
	}
	return each(ctx, tx.Friends, func(f Friend) stepcast.FriendID { return f.ID }, func(f Friend) error { return write(f.ID) })
}

// each calls put for every record read pages at a time — read returns up
// to limit records with keys above after, in key order, fewer than limit at
// the end — and stops at the first error, or when ctx is done.
func each[K, T any](ctx context.Context, read func(after K, limit int) ([]T, error), key func(T) K, put func(T) error) error {
	var after K
	for {
		page, err := read(after, pageSize)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := put(r); err != nil {
				return err
			}
			after = key(r)
		}
		if err := ctx.Err(); err != nil || len(page) < pageSize {
			return err
		}
	}
}

// all returns a function that calls put for each of records, unless err.
func all[T any](records []T, err error) func(put func(T) error) error {
	return func(put func(T) error) error {
		for _, r := range records {
			if err != nil {
				return err
			}
			err = put(r)
		}
		return err
	}
}
