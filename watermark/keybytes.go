package watermark

// AppendSecretBytes appends the key's canonical secret bytes to dst: the
// 32-byte secret of a tracemark key, or for an engine key the number of
// words n as 4 big-endian bytes followed by each word as 8 big-endian bytes
// (the encoding EngineKeyID hashes). They are what an evidence file's key
// commitment binds (package evidence). The bytes are the secret: never
// print, log or store them.
func (k *Key) AppendSecretBytes(dst []byte) []byte {
	if k.engine == nil {
		return append(dst, k.secret[:]...)
	}
	n := uint32(len(k.engine))
	dst = append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	for _, w := range k.engine {
		for i := 0; i < 8; i++ {
			dst = append(dst, byte(w>>(56-8*i)))
		}
	}
	return dst
}
