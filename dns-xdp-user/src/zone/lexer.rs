//! Splits master-file text (RFC 1035 §5.1) into entries: the tokens of one logical line.
//!
//! Works on bytes rather than `str` so that non-UTF-8 octets in quoted strings load as written.
//! Escapes are left in the token text; the consumer decodes them because their meaning depends on
//! whether the token is a name or a character-string.

/// One token: a word or the inside of a quoted string, escapes not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub text: &'a [u8],
    pub quoted: bool,
    pub line: u32,
}

/// Where a logical line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub line: u32,
    /// The line starts with a blank, so the owner is omitted (it is the previous one).
    pub blank_start: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LexError {
    pub line: u32,
    pub problem: &'static str,
    pub fix: &'static str,
}

pub(super) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
        }
    }

    /// The number of the last line read (a final newline ends that line; it starts no new one).
    pub fn last_line(&self) -> u32 {
        if self.line > 1 && self.src[..self.pos].ends_with(b"\n") {
            self.line - 1
        } else {
            self.line
        }
    }

    /// Reads the next logical line into `tokens` (cleared first); `None` at end of input.
    /// Blank and comment-only lines are skipped; parentheses join physical lines.
    pub fn next_entry(&mut self, tokens: &mut Vec<Token<'a>>) -> Result<Option<Entry>, LexError> {
        tokens.clear();
        let src = self.src;
        let mut entry: Option<Entry> = None;
        let mut depth = 0u32;
        let mut paren_line = 0;
        let mut line_blank_start = is_blank(src.get(self.pos).copied());
        while let Some(&c) = src.get(self.pos) {
            match c {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if depth == 0 {
                        if entry.is_some() {
                            return Ok(entry);
                        }
                        line_blank_start = is_blank(src.get(self.pos).copied());
                    }
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b';' => {
                    while src.get(self.pos).is_some_and(|&c| c != b'\n') {
                        self.pos += 1;
                    }
                }
                b'(' => {
                    if depth == 0 {
                        paren_line = self.line;
                    }
                    depth += 1;
                    self.pos += 1;
                }
                b')' => {
                    if depth == 0 {
                        return Err(self.error(
                            "`)` without a matching `(`",
                            "remove it or add the missing `(`",
                        ));
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                b'"' => {
                    let token = self.quoted()?;
                    entry.get_or_insert(Entry {
                        line: token.line,
                        blank_start: line_blank_start,
                    });
                    tokens.push(token);
                }
                _ => {
                    let token = self.word()?;
                    entry.get_or_insert(Entry {
                        line: token.line,
                        blank_start: line_blank_start,
                    });
                    tokens.push(token);
                }
            }
        }
        if depth > 0 {
            return Err(LexError {
                line: paren_line,
                problem: "`(` is never closed",
                fix: "add the missing `)`",
            });
        }
        Ok(entry)
    }

    /// A quoted string; `self.pos` is at the opening quote.
    fn quoted(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos + 1;
        let mut i = start;
        loop {
            match self.src.get(i) {
                Some(b'"') => break,
                Some(b'\\') if self.src.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
                Some(b'\n') | None => {
                    return Err(self.error(
                        "quoted string is not closed on this line",
                        "add the closing `\"` (write a literal quote as `\\\"`)",
                    ))
                }
                Some(_) => i += 1,
            }
        }
        self.pos = i + 1;
        Ok(Token {
            text: &self.src[start..i],
            quoted: true,
            line: self.line,
        })
    }

    /// An unquoted word; `self.pos` is at its first byte.
    fn word(&mut self) -> Result<Token<'a>, LexError> {
        let start = self.pos;
        while let Some(&c) = self.src.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    if self.src.get(self.pos + 1).is_none_or(|&c| c == b'\n') {
                        return Err(self.error(
                            "`\\` at the end of a line",
                            "remove it, or write a literal backslash as `\\\\`",
                        ));
                    }
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
        Ok(Token {
            text: &self.src[start..self.pos],
            quoted: false,
            line: self.line,
        })
    }

    fn error(&self, problem: &'static str, fix: &'static str) -> LexError {
        LexError {
            line: self.line,
            problem,
            fix,
        }
    }
}

fn is_blank(c: Option<u8>) -> bool {
    matches!(c, Some(b' ' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (entry, tokens as (text, quoted, line)) for every entry.
    #[allow(clippy::type_complexity)]
    fn lex(src: &str) -> Result<Vec<(Entry, Vec<(String, bool, u32)>)>, LexError> {
        let mut lexer = Lexer::new(src.as_bytes());
        let mut tokens = Vec::new();
        let mut out = Vec::new();
        while let Some(entry) = lexer.next_entry(&mut tokens)? {
            let toks = tokens
                .iter()
                .map(|t| {
                    (
                        String::from_utf8(t.text.to_vec()).unwrap(),
                        t.quoted,
                        t.line,
                    )
                })
                .collect();
            out.push((entry, toks));
        }
        Ok(out)
    }

    fn words(entry: &(Entry, Vec<(String, bool, u32)>)) -> Vec<&str> {
        entry.1.iter().map(|t| t.0.as_str()).collect()
    }

    #[test]
    fn splits_lines_and_skips_comments_and_blank_lines() {
        let out = lex("a A 1.2.3.4 ; comment\n\n   ; only a comment\n\tb A 5.6.7.8").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(words(&out[0]), ["a", "A", "1.2.3.4"]);
        assert_eq!(
            out[0].0,
            Entry {
                line: 1,
                blank_start: false
            }
        );
        assert_eq!(words(&out[1]), ["b", "A", "5.6.7.8"]);
        assert_eq!(
            out[1].0,
            Entry {
                line: 4,
                blank_start: true
            }
        );
    }

    #[test]
    fn parentheses_join_lines_and_tokens_keep_their_line() {
        let out = lex("@ SOA ns host ( 1 ; serial\n  2 3\n 4 5 )\nnext A 1.1.1.1\n").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            words(&out[0]),
            ["@", "SOA", "ns", "host", "1", "2", "3", "4", "5"]
        );
        let lines: Vec<u32> = out[0].1.iter().map(|t| t.2).collect();
        assert_eq!(lines, [1, 1, 1, 1, 1, 2, 2, 3, 3]);
        assert_eq!(out[1].0.line, 4);
    }

    #[test]
    fn quoted_strings_keep_escapes_and_delimiters() {
        let out = lex(r#"t TXT "a \"b\" ; (c)" plain"x y""#).unwrap();
        let toks = &out[0].1;
        assert_eq!(toks[2], (r#"a \"b\" ; (c)"#.to_string(), true, 1));
        assert_eq!(toks[3], ("plain".to_string(), false, 1));
        assert_eq!(toks[4], ("x y".to_string(), true, 1));
    }

    #[test]
    fn escaped_delimiters_stay_in_words() {
        let out = lex(r"a\ b\;c\(d\) A 1.2.3.4").unwrap();
        assert_eq!(words(&out[0])[0], r"a\ b\;c\(d\)");
    }

    #[test]
    fn crlf_line_endings() {
        let out = lex("a A 1.2.3.4\r\n b A 1.2.3.5\r\n").unwrap();
        assert_eq!(words(&out[0]), ["a", "A", "1.2.3.4"]);
        assert!(out[1].0.blank_start);
    }

    #[test]
    fn errors_carry_the_line() {
        let e = lex("a A 1\nb TXT \"open\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("quoted string"));
        let e = lex("a A 1\n\nb ) x\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = lex("a A 1\nb SOA ( x\n y\n").unwrap_err();
        assert_eq!(e.line, 2, "reported where the parenthesis opened");
        let e = lex("a TXT x\\").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn last_line_ignores_a_final_newline() {
        for (src, last) in [
            ("", 1),
            ("a\n", 1),
            ("a\nb", 2),
            ("a\n\n", 2),
            ("a\nb\n", 2),
        ] {
            let mut lexer = Lexer::new(src.as_bytes());
            while lexer.next_entry(&mut Vec::new()).unwrap().is_some() {}
            assert_eq!(lexer.last_line(), last, "{src:?}");
        }
    }
}
