package evidence

import (
	"strings"

	"github.com/tracemark/tracemark/corpora"
	"github.com/tracemark/tracemark/scan"
)

// This file turns a scan's results into evidence, for every front end that
// runs the scan (the scan command, the Beam pipeline), so that they record
// the same statistics, which a verifier recomputes with the scan command.

// ScanOptions returns the recorded options of a scan: its levels, dedup
// modes and reading options. noDedup is a scan without per-document dedup.
func ScanOptions(alpha, fdr float64, docDedup scan.DocDedup, normalize, noDedup bool, read corpora.ReadOptions) Options {
	dedup := "tuple"
	if noDedup {
		dedup = "none"
	}
	return Options{Alpha: alpha, Dedup: dedup, Normalize: normalize, FDR: fdr, DocDedup: string(docDedup),
		PooledDedup: "corpus-tuple", Read: map[string]string{
			"format": read.Format, "id-field": read.IDField, "role": read.Role, "split": read.Split,
			"field": strings.Join(read.Fields, "\n"),
		}}
}

// ScanDocument returns the statistic of one flagged scan document: its
// p-value, with Holm's correction over keys when the scan had several
// (keys > 1), and, when the scan flagged by q-value (byQ: a false
// discovery rate was set), its Benjamini–Hochberg q-value (the BH family,
// the number of documents, is set by AddScan). A scan that flags by
// p-value applies no BH correction, so none is recorded.
func ScanDocument(d scan.Doc, keys int, byQ bool) Statistic {
	st := Statistic{Unit: UnitDocument, Input: d.File, ID: d.ID, Location: d.Location, Tokens: d.Tokens, Scored: d.Scored,
		Detected: d.Detected, Flagged: d.Flagged, PValue: d.PValue, Log10P: d.Log10P, KeyID: d.KeyID, Payload: d.Payload,
		PayloadClaimed: d.PayloadClaimed, PayloadLog10P: d.PayloadLog10P}
	if keys > 1 {
		st.Corrections = append(st.Corrections, Correction{Method: CorrectionHolm, Over: "keys", Family: keys, AdjustedLog10P: d.Log10P})
	}
	if byQ && d.Log10Q != nil {
		st.Corrections = append(st.Corrections, Correction{Method: CorrectionBH, Over: "documents", AdjustedLog10P: *d.Log10Q})
	}
	return st
}

// AddScan records a scan's flagged documents (ScanDocument's statistics,
// in input order), its pooled corpus test and its counts, from its
// summary.
func (b *Builder) AddScan(sum scan.Summary, docs []Statistic) {
	for _, d := range docs {
		d.Corrections = append([]Correction(nil), d.Corrections...)
		for i := range d.Corrections {
			if d.Corrections[i].Method == CorrectionBH {
				d.Corrections[i].Family = sum.Documents
			}
		}
		b.AddStatistic(d)
	}
	pooled := Statistic{Unit: UnitCorpus, Input: "all inputs", Tokens: int(sum.Tokens), Detected: sum.Detected, Flagged: sum.Detected,
		PValue: sum.PooledPValue, Log10P: sum.PooledLog10P, KeyID: sum.PooledKeyID}
	for _, k := range sum.PerKey {
		ks := KeyStatistic{KeyID: k.KeyID, Scheme: k.Scheme, Test: k.Test, Scored: k.Scored, Score: k.Score,
			PValue: k.PValue, Log10P: k.Log10P, DedupExact: k.DedupExact, Payload: k.Payload}
		if k.Payload != "" {
			v := k.PayloadLog10P
			ks.PayloadLog10P = &v
		}
		pooled.PerKey = append(pooled.PerKey, ks)
		if k.KeyID == sum.PooledKeyID {
			pooled.Scored, pooled.Payload = k.Scored, k.Payload
		}
	}
	if len(sum.PerKey) > 1 {
		pooled.Corrections = append(pooled.Corrections, Correction{Method: CorrectionHolm, Over: "keys", Family: len(sum.PerKey), AdjustedLog10P: sum.PooledLog10P})
	}
	b.AddStatistic(pooled)
	for name, v := range map[string]int64{"files": int64(sum.Files), "documents": int64(sum.Documents), "flagged": int64(sum.Flagged),
		"errors": int64(sum.Errors), "failed_files": int64(sum.FailedFiles), "tokens": sum.Tokens, "bytes": sum.Bytes} {
		b.SetSummary(name, v)
	}
}
