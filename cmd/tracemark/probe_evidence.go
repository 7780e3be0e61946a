package main

import (
	"math"
	"strconv"
	"strings"

	ev "github.com/tracemark/tracemark/evidence"
	"github.com/tracemark/tracemark/probe"
	"github.com/tracemark/tracemark/serve/servelog"
)

// servedLogExclusion describes a served-output log file among an evidence
// file's exclusions (replayProbeArgs tells them from --exclude-ngrams
// files by it).
const servedLogExclusion = "served-output log: (h+1)-grams of every record's prompt_tokens"

// probeReadOptions are the probe settings a replay needs (its answer
// directory refuses other settings).
func probeReadOptions(res probe.Result) map[string]string {
	o := map[string]string{"endpoint": res.Inputs.Endpoint, "model": res.Inputs.Model, "api": string(res.Inputs.API),
		"max_tokens": strconv.Itoa(res.Options.MaxTokens), "dir": res.Inputs.Dir}
	if t := res.Options.Temperature; t != nil {
		o["temperature"] = strconv.FormatFloat(*t, 'g', -1, 64)
	}
	if s := res.Options.Seed; s != nil {
		o["seed"] = strconv.FormatInt(*s, 10)
	}
	if res.Options.AllowIncompleteLog {
		o["allow_incomplete_log"] = "true"
	}
	return o
}

// replayProbeArgs is the probe command that recomputes a probe's
// statistics from its stored answers, sending nothing (--offline).
func replayProbeArgs(f *ev.File) []string {
	o := f.Options.Read
	args := []string{"--offline", "--endpoint", o["endpoint"], "--model", o["model"], "--api", o["api"],
		"--max-tokens", o["max_tokens"], "--out", o["dir"]}
	for _, name := range []string{"temperature", "seed"} {
		if v, ok := o[name]; ok {
			args = append(args, "--"+name, v)
		}
	}
	if o["allow_incomplete_log"] == "true" {
		args = append(args, "--allow-incomplete-log")
	}
	for _, x := range f.Exclusions {
		if x.What == servedLogExclusion {
			args = append(args, "--exclude-from", x.Name)
		} else {
			args = append(args, "--exclude-ngrams", x.Name)
		}
	}
	if len(f.Inputs) > 0 {
		args = append(args, "--prompts", f.Inputs[0].Name)
	}
	return append(args, "--soft-errors-ok")
}

// probeEvidence records a probe's result in its evidence file: the
// prompts file and the answers corpus as inputs, every served-output log
// file as an exclusion, the pooled test under each key (as scan records
// it), and one statistic per candidate customer with its Holm-adjusted
// p-value.
func (r *evidenceRun) probeEvidence(prompts string, logs []string, excludeNgrams string, res probe.Result) error {
	if r == nil {
		return nil
	}
	if err := r.exclusion(excludeNgrams, res.Test.Exclusion.Ngrams); err != nil {
		return err
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
			if err := r.b.AddExclusionFile(f, servedLogExclusion, res.Test.Exclusion.Ngrams); err != nil {
				return err
			}
		}
	}
	r.b.SetOptions(ev.Options{Alpha: res.Test.Alpha, Dedup: "tuple", PooledDedup: "corpus-tuple", DocDedup: string(res.Test.Summary.DocDedup),
		Read: probeReadOptions(res)})
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
