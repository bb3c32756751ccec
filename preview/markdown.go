package preview

import "strings"

// MarkdownText makes s literal text in GitHub-flavoured Markdown, on one
// line: inside a table cell, a paragraph, a list item or a heading nothing
// in it renders as a link, an image, an autolink, emphasis, code, a
// heading, a list, HTML, an entity, a mention, math or a table cell
// boundary. Every ASCII punctuation character but "/" (which no construct
// uses) is backslash-escaped, which CommonMark defines as that character,
// literally, for all of them; GFM's bare-URL, www. and e-mail autolinks
// need a literal ":", "." or "@" and so do not form. Line breaks and other
// control characters become spaces. Gitea renders the same way (goldmark
// with GFM).
func MarkdownText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n") // one line break, one space
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r < 0x80 && r != '/' && isPunct(byte(r)):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}
