package corpora

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLText(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"comment", "one<!-- hidden -->two", "onetwo"},
		{"comment holding tags", "<p>a</p><!-- <p>not text</p><script>x()</script> -->b", "a\nb"},
		{"comment across lines", "keep<!--\n<div>gone</div>\n-->this", "keepthis"},
		{"unterminated comment", "text<!-- runs to the end <p>x</p>", "text"},
		{"noscript", "<p>on</p><noscript><p>Enable JavaScript</p></noscript><p>off</p>", "on\noff\n"},
		{"script and style", "<head><style>p { color: red }</style><script>if (a < b) { document.write('<p>x</p>') }</script></head>visible", "visible"},
		{"script with tags in strings", "<script>var s = '<p>no</p>' + '</scr' + 'ipt>';</script>after", "after"},
		{"self-closing script", "<script/>alert(1)</script>shown", "shown"},
		{"template", "<template><p>hidden <b>too</b></p><template>deep</template>still</template>seen", "seen"},
		{"stray template end", "a</template>b", "ab"},
		{"doctype", "<!DOCTYPE html><html><body>x</body></html>", "x\n"},
		{"entities", "<p>Fish &amp; chips &lt;3 &quot;q&quot; caf&eacute; &#233;&#x1F600; &nbsp;end&copy</p>", "Fish & chips <3 \"q\" café é😀 \u00a0end©\n"},
		{"entity in attribute ignored", `<a title="&amp;">link</a>`, "link"},
		{"nested blocks", "<div><div><p>one</p><ul><li>two</li><li>three</li></ul></div><div>four</div></div>", "one\ntwo\nthree\nfour\n"},
		{"inline elements join", "<p>water<b>melon</b> and <a href=x>grape</a>s</p>", "watermelon and grapes\n"},
		{"no newline after whitespace", "<p>one </p><p>\ntwo</p>", "one \ntwo\n"},
		{"br", "line one<br>line two<br/>three", "line one\nline two\nthree"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th></tr></table>", "a\nb\nc\n"},
		{"headings", "<h1>Title</h1>Body<h2>Sub</h2>", "Title\nBody\nSub\n"},
		{"title", "<title>Page</title><p>Hello</p>", "Page\nHello\n"},
		{"CR LF normalized", "a\r\nb\rc", "a\nb\nc"},
		{"plain text", "  no  tags\n\n at\tall  ", "  no  tags\n\n at\tall  "},
		{"empty", "", ""},
		{"truncated tag", "text <p", "text "},
	} {
		if got := htmlText([]byte(c.in)); got != c.want {
			t.Errorf("%s: htmlText(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// TestHTMLTextKeepsEmbeddedText checks that a text placed verbatim in a
// paragraph comes back byte for byte, its runs of spaces and newlines
// included: collapsing them would change its tokens, and so its p-value.
func TestHTMLTextKeepsEmbeddedText(t *testing.T) {
	text := "The  quick brown fox\n\njumps over   the lazy dog.\n    Indented line,\ttab;\n\n\n three blank lines before.  "
	page := "<!DOCTYPE html>\n<html><head><title>t</title></head><body><p>" + text + "</p></body></html>"
	got := htmlText([]byte(page))
	if want := "\nt\n" + text; got != want {
		t.Errorf("embedded text changed:\n got %q\nwant %q", got, want)
	}
	if got := htmlText([]byte("<p>" + text + "</p>")); got != text {
		t.Errorf("htmlText(<p>text</p>) = %q, want %q", got, text)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + text + "</p>")
	if got := httpBodyText(resp); got != text {
		t.Errorf("httpBodyText = %q, want %q", got, text)
	}
}

func TestHTTPBodyText(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"html", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>a &amp; b</p>", "a & b\n"},
		{"xhtml", "HTTP/1.1 200 OK\r\nContent-Type: application/xhtml+xml\r\n\r\n<p>x</p>", "x\n"},
		{"header case", "HTTP/1.1 200 OK\r\ncontent-type: TEXT/HTML\r\n\r\n<b>y</b>", "y"},
		{"bare LF headers", "HTTP/1.1 200 OK\nContent-Type: text/html\n\n<i>z</i>", "z"},
		{"plain text kept", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n<p>a &amp; b</p>", "<p>a &amp; b</p>"},
		{"json kept", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":  1}", "{\"a\":  1}"},
	} {
		if got := httpBodyText([]byte(c.in)); got != c.want {
			t.Errorf("%s: httpBodyText = %q, want %q", c.name, got, c.want)
		}
	}
}

// FuzzHTMLText checks that the stripper never panics, keeps valid UTF-8
// valid, and returns text without markup unchanged.
func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{
		"<p>Hello &amp; welcome</p><p>to the page.</p>",
		"<!-- <p>x</p> --><noscript>n</noscript><script>s</script><style>y</style>",
		"<template><template>a</template>b</template>c<br/>d",
		"<p>a  b\n\n c</p><div><li>e</div>",
		"&#xD800; &#0; &#x110000; &amp",
		"<scr<script>ipt>x</script>",
		"<![CDATA[x]]><?php echo 1 ?><!DOCTYPE x>",
		"plain text\twith  spaces\n",
		"\xff<p>\xfe</p>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := htmlText(data)
		if utf8.Valid(data) && !utf8.ValidString(got) {
			t.Fatalf("htmlText(%q) = %q: invalid UTF-8 from valid input", data, got)
		}
		if !strings.ContainsAny(string(data), "<&\r\x00") && got != string(data) {
			t.Fatalf("htmlText(%q) = %q: text without markup changed", data, got)
		}
	})
}
