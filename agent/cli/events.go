package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventColumns and eventWideColumns are kubectl's `get events` headers.
var (
	eventColumns     = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	eventWideColumns = []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"}
)

// eventRow computes one `get events` line as kubectl's event printer does:
// LAST SEEN falls back to the first time, OBJECT is kind/name in lower case.
func eventRow(e *v1.Event, now time.Time, wide bool) []string {
	first := since(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = since(metav1.Time{Time: e.EventTime.Time}, now)
	}
	last := since(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = since(metav1.Time{Time: e.Series.LastObservedTime.Time}, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	msg := strings.TrimSpace(e.Message)
	if !wide {
		return []string{last, e.Type, e.Reason, target, msg}
	}
	return []string{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, eventSource(e), msg, first, fmt.Sprint(count), e.Name}
}

// eventSource is kubectl's SOURCE cell: "component, host".
func eventSource(e *v1.Event) string {
	comp, host := e.Source.Component, e.Source.Host
	if comp == "" {
		comp = e.ReportingController
	}
	if host == "" {
		host = e.ReportingInstance
	}
	if host == "" {
		return comp
	}
	return comp + ", " + host
}

func (a *app) eventHeader(wide bool) []string {
	h := eventColumns
	if wide {
		h = eventWideColumns
	}
	if a.allNS {
		h = append([]string{"NAMESPACE"}, h...)
	}
	return h
}

func (a *app) eventCells(e *v1.Event, wide bool) []string {
	cells := eventRow(e, a.clock.Now(), wide)
	if a.allNS {
		cells = append([]string{e.Namespace}, cells...)
	}
	return cells
}

// getEvents lists (or with -w, follows) the events of the namespace that
// the field selector picks, in kubectl's table or an output format.
func (a *app) getEvents(ctx context.Context, names []string, p *printer, fieldSelector string, watch, noHeaders bool) int {
	if len(names) > 0 {
		return a.fail(fmt.Errorf("events are listed by --field-selector involvedObject.name=NAME, not by name"))
	}
	wide := p.format == "wide"
	table := p.format == "" || wide
	c := a.client()
	if watch {
		ch, err := c.WatchEventList(ctx, a.listNamespace(), fieldSelector)
		if err != nil {
			return a.fail(err)
		}
		t := &watchTable{w: a.stdout}
		header := !noHeaders
		for ev := range ch {
			e := ev.Event
			if !table {
				e.Kind, e.APIVersion = "Event", "v1"
				if err := p.printObject(a.stdout, &e, "event", []string{e.Name}); err != nil {
					return a.fail(err)
				}
				continue
			}
			rows := [][]string{a.eventCells(&e, wide)}
			if header {
				rows = append([][]string{a.eventHeader(wide)}, rows...)
				header = false
			}
			t.write(rows)
		}
		return 0
	}
	evs, err := c.ListEvents(ctx, a.listNamespace(), fieldSelector)
	if err != nil {
		return a.fail(err)
	}
	if table {
		if len(evs) == 0 {
			if a.allNS {
				fmt.Fprintln(a.stderr, "No resources found")
			} else {
				fmt.Fprintf(a.stderr, "No resources found in %s namespace.\n", a.namespace)
			}
			return 0
		}
		tw := newTable(a.stdout)
		if !noHeaders {
			writeRow(tw, a.eventHeader(wide))
		}
		for i := range evs {
			writeRow(tw, a.eventCells(&evs[i], wide))
		}
		if err := tw.Flush(); err != nil {
			return a.fail(err)
		}
		return 0
	}
	names = make([]string, len(evs))
	items := make([]any, len(evs))
	for i := range evs {
		evs[i].Kind, evs[i].APIVersion = "Event", "v1"
		names[i], items[i] = evs[i].Name, &evs[i]
	}
	if err := p.printObject(a.stdout, list(items), "event", names); err != nil {
		return a.fail(err)
	}
	return 0
}
