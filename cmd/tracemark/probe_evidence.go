package main

import (
	"math"
	"strings"

	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/probe"
	"github.com/tracemark/tracemark/serve/servelog"
)

// probeEvidence records a probe's result in its evidence file: the
// prompts file and the answers corpus as inputs, every served-output log
// file as an exclusion, the pooled test under each key (as scan records
// it), and one statistic per candidate customer with its Holm-adjusted
// p-value.
func (r *evidenceRun) probeEvidence(prompts string, logs []string, res probe.Result) error {
	if r == nil {
		return nil
	}
	if err := r.inputs([]string{prompts, res.Test.Corpus}); err != nil {
		return err
	}
	for _, l := range logs {
		files, err := servelog.Files(l)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := r.b.AddExclusionFile(f, "served-output log: (h+1)-grams of every record's prompt_tokens", res.Test.Exclusion.Ngrams); err != nil {
				return err
			}
		}
	}
	r.b.SetOptions(ev.Options{Alpha: res.Test.Alpha, Dedup: "tuple", PooledDedup: "corpus-tuple", DocDedup: string(res.Test.Summary.DocDedup),
		Read: map[string]string{"endpoint": res.Inputs.Endpoint, "model": res.Inputs.Model, "api": string(res.Inputs.API)}})
	r.scanSummary(res.Test.Summary)
	for _, k := range res.Test.Keys {
		for _, ct := range k.Customers {
			adj := ct.AdjustedLog10P
			st := ev.Statistic{Unit: ev.UnitCustomer, Input: res.Test.Corpus, ID: strings.Join(ct.Customers, ","), KeyID: k.KeyID,
				Payload: ct.Payload, Scored: ct.Trials, Detected: ct.Identified, Flagged: ct.Identified,
				PValue: math.Pow(10, adj), Log10P: adj,
				Corrections: []ev.Correction{{Method: ev.CorrectionHolm, Over: "customers", Family: len(k.Customers), AdjustedLog10P: adj}},
				PerKey: []ev.KeyStatistic{{KeyID: k.KeyID, Scheme: k.Scheme, Test: "payload-distinguishing-slots", Scored: ct.Trials,
					Score: float64(ct.Matches), PValue: math.Pow(10, ct.Log10P), Log10P: ct.Log10P}}}
			r.b.AddStatistic(st)
		}
	}
	r.b.SetSummary("prompts", int64(res.Prompts))
	r.b.SetSummary("answers", int64(res.Test.Answers))
	r.b.SetSummary("failed_prompts", int64(len(res.Collection.Failed)))
	r.b.SetSummary("completion_tokens", res.Collection.CompletionTokens)
	return nil
}
