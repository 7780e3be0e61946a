package detect

// TokensPositions is Tokens that also reports where the counted
// observations are: pos (reused from the argument's backing array, which
// the detector fills directly) gets, for each observation of
// Observations(), the index in ids of its token.
// Localized detection (package detect/spans) scores windows of these
// observations.
func (d *Detector) TokensPositions(ids []uint32, pos []int) (Result, []int) {
	d.positions = pos[:0]
	r := d.tokens(ids, true)
	h := d.scheme.ContextWidth()
	pos, d.positions = d.positions, nil
	for i := range pos {
		pos[i] += h
	}
	return r, pos
}

// EvaluateTally evaluates a tally of this detector's observations (such as
// those of a window of a text) with the detector's scheme, options and
// cached null distributions, as Tokens evaluates a whole text's tally.
// tokens is recorded as the result's Tokens.
func (d *Detector) EvaluateTally(t *Tally, tokens int) Result {
	r := Result{
		Tokens:    tokens,
		Scheme:    d.scheme.Spec(),
		KeyID:     d.scheme.KeyID(),
		Tokenizer: d.opts.Tokenizer,
		Alpha:     d.opts.Alpha,
		Dedup:     !d.opts.NoDedup,
	}
	d.eval.evaluate(t, &r)
	return r
}

// Alpha returns the detector's significance level.
func (d *Detector) Alpha() float64 { return d.opts.Alpha }
