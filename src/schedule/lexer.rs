//! Splitting a schedule string into words, rewriting aliases, and remembering where
//! each word came from so that errors can name a column.

use super::error::ScheduleError;

/// One word of the frequency part, after alias rewriting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The normalised text (lower case, aliases applied).
    pub text: String,
    /// Byte range in the original input of the word (or words) it came from.
    pub start: usize,
    pub end: usize,
    /// Whether it came from expanding an alias (`daily` → `every 1 day`).
    pub expanded: bool,
}

/// Whether a character belongs to a word for alias purposes (as a regex `\w`).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The 1-based character column of a byte offset.
pub fn column_of(input: &str, byte: usize) -> usize {
    input[..byte.min(input.len())].chars().count() + 1
}

/// Words (`\w` runs) with their byte ranges.
pub fn words(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut begin = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), begin) {
            (true, None) => begin = Some(i),
            (false, Some(b)) => {
                out.push((b, i));
                begin = None;
            }
            _ => {}
        }
    }
    if let Some(b) = begin {
        out.push((b, text.len()));
    }
    out
}

/// A piece of the input and the byte offset where it starts.
pub type Piece<'a> = (&'a str, usize);

/// Splits off a trailing `tz ZONE` (the last whole word `tz`, any case, and one
/// zone name after it): the schedule before it, and the zone with its byte offset.
/// `tz` with no zone, or with more than one word after it, is an error.
pub fn split_zone(input: &str) -> Result<(&str, Option<Piece<'_>>), ScheduleError> {
    let Some((b, e)) = words(input)
        .into_iter()
        .rev()
        .find(|&(b, e)| input[b..e].eq_ignore_ascii_case("tz"))
    else {
        return Ok((input, None));
    };
    let rest = &input[e..];
    let zone = rest.trim();
    let at = e + (rest.len() - rest.trim_start().len());
    if zone.is_empty() {
        return Err(ScheduleError::new(
            "no time zone after tz: expected an IANA name, such as tz Europe/Berlin",
            Some(column_of(input, b)),
            input,
        ));
    }
    if let Some(space) = zone.find(char::is_whitespace) {
        let extra = at + space + (zone[space..].len() - zone[space..].trim_start().len());
        return Err(ScheduleError::new(
            "more than one word after tz: expected one time zone name, at the end of the schedule",
            Some(column_of(input, extra)),
            input,
        ));
    }
    Ok((&input[..b], Some((zone, at))))
}

/// Finds the first whole word `starting` or `beginning` (any case) and splits there:
/// the frequency before it, and the start phrase (with its byte offset) after it.
pub fn split_start(input: &str) -> (&str, Option<(&str, usize)>) {
    for (b, e) in words(input) {
        let word = &input[b..e];
        if word.eq_ignore_ascii_case("starting") || word.eq_ignore_ascii_case("beginning") {
            return (&input[..b], Some((&input[e..], e)));
        }
    }
    (input, None)
}

/// The whole-word aliases of the frequency part.
fn alias(word: &str) -> Option<&'static str> {
    Some(match word {
        "secondly" => "every 1 second",
        "minutely" => "every 1 minute",
        "hourly" => "every 1 hour",
        "daily" => "every 1 day",
        "weekly" => "every 1 week",
        "monthly" => "every 1 month",
        "yearly" => "every 1 year",
        "and" => "&",
        "or" => "|",
        "through" | "thru" => "-",
        "monday" => "mon",
        "tuesday" | "tues" => "tue",
        "wednesday" => "wed",
        "thursday" | "thurs" | "thur" => "thu",
        "friday" => "fri",
        "saturday" => "sat",
        "sunday" => "sun",
        "january" => "jan",
        "february" => "feb",
        "march" => "mar",
        "april" => "apr",
        "june" => "jun",
        "july" => "jul",
        "august" => "aug",
        "september" | "sept" => "sep",
        "october" => "oct",
        "november" => "nov",
        "december" => "dec",
        _ => return None,
    })
}

/// Rewrites the aliases of one raw word; returns the new text and whether any alias
/// was applied.
fn rewrite_aliases(raw: &str) -> (String, bool) {
    let mut out = String::with_capacity(raw.len());
    let mut last = 0;
    let mut changed = false;
    for (b, e) in words(raw) {
        if let Some(replacement) = alias(&raw[b..e]) {
            out.push_str(&raw[last..b]);
            out.push_str(replacement);
            last = e;
            changed = true;
        }
    }
    out.push_str(&raw[last..]);
    (out, changed)
}

/// Splits the frequency part (a prefix of `input`) into normalised tokens. `&` and `|`
/// are tokens of their own even without spaces around them; a lone `-` (also from
/// `through`/`thru`) joins the words on either side.
pub fn tokenize(freq: &str) -> Vec<Token> {
    let mut raw: Vec<(usize, usize)> = Vec::new();
    let mut begin: Option<usize> = None;
    for (i, c) in freq.char_indices() {
        if c.is_whitespace() || c == '&' || c == '|' {
            if let Some(b) = begin.take() {
                raw.push((b, i));
            }
            if c == '&' || c == '|' {
                raw.push((i, i + 1));
            }
        } else if begin.is_none() {
            begin = Some(i);
        }
    }
    if let Some(b) = begin {
        raw.push((b, freq.len()));
    }

    let mut tokens: Vec<Token> = Vec::new();
    for (b, e) in raw {
        let lower = freq[b..e].to_lowercase();
        let (text, changed) = rewrite_aliases(&lower);
        let pieces: Vec<&str> = text.split_whitespace().collect();
        let expanded = changed && pieces.len() > 1;
        for piece in pieces {
            tokens.push(Token {
                text: piece.to_string(),
                start: b,
                end: e,
                expanded,
            });
        }
    }
    join_dashes(tokens)
}

fn is_operator(text: &str) -> bool {
    text == "&" || text == "|"
}

fn join_dashes(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut iter = tokens.into_iter().peekable();
    while let Some(tok) = iter.next() {
        let joinable = tok.text == "-"
            && out.last().is_some_and(|p| !is_operator(&p.text))
            && iter.peek().is_some_and(|n| !is_operator(&n.text));
        match (joinable, out.last_mut(), iter.peek()) {
            (true, Some(prev), Some(_)) => {
                if let Some(next) = iter.next() {
                    prev.text.push('-');
                    prev.text.push_str(&next.text);
                    prev.end = next.end;
                    prev.expanded = false;
                }
            }
            _ => out.push(tok),
        }
    }
    out
}

/// The operator joining the parts of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joiner {
    /// `&` / `and`: every part must hold.
    All,
    /// `|` / `or`: any part.
    Any,
}

/// Splits tokens into parts at `&`/`|`, rejecting mixed operators and empty parts.
pub fn split_parts(
    tokens: Vec<Token>,
    input: &str,
) -> Result<(Vec<Vec<Token>>, Joiner), ScheduleError> {
    let mut parts: Vec<Vec<Token>> = vec![Vec::new()];
    let mut joiner: Option<(Joiner, usize)> = None;
    let empty_part = |at: usize| {
        ScheduleError::new(
            "empty part: expected a schedule before and after each `&` or `|`",
            Some(column_of(input, at)),
            input,
        )
    };
    for tok in tokens {
        let this = match tok.text.as_str() {
            "&" => Joiner::All,
            "|" => Joiner::Any,
            _ => {
                if let Some(part) = parts.last_mut() {
                    part.push(tok);
                }
                continue;
            }
        };
        match joiner {
            Some((j, _)) if j != this => {
                return Err(ScheduleError::new(
                    "cannot mix `&` (and) with `|` (or) in one schedule",
                    Some(column_of(input, tok.start)),
                    input,
                ))
            }
            _ => joiner = Some((this, tok.start)),
        }
        if parts.last().is_some_and(|p| p.is_empty()) {
            return Err(empty_part(tok.start));
        }
        parts.push(Vec::new());
    }
    if parts.last().is_some_and(|p| p.is_empty()) {
        let at = joiner.map(|(_, at)| at).unwrap_or(0);
        return Err(empty_part(at));
    }
    Ok((parts, joiner.map(|(j, _)| j).unwrap_or(Joiner::All)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn aliases_are_whole_words() {
        assert_eq!(
            texts("daily and Mon-Fri"),
            ["every", "1", "day", "&", "mon-fri"]
        );
        assert_eq!(texts("biweekly"), ["biweekly"]);
        assert_eq!(texts("@daily"), ["@every", "1", "day"]);
        assert_eq!(texts("monday through friday"), ["mon-fri"]);
        assert_eq!(texts("mon - fri"), ["mon-fri"]);
        assert_eq!(
            texts("daily|weekly"),
            ["every", "1", "day", "|", "every", "1", "week"]
        );
        assert_eq!(texts("sept,thur"), ["sep,thu"]);
    }

    #[test]
    fn start_keyword_is_a_whole_word() {
        let (f, s) = split_start("daily Beginning tomorrow");
        assert_eq!(f, "daily ");
        assert_eq!(s.map(|(t, _)| t), Some(" tomorrow"));
        assert_eq!(split_start("restarting").1, None);
    }

    #[test]
    fn mixed_operators_are_rejected() {
        let err = split_parts(tokenize("hourly & mon-fri | sat"), "hourly & mon-fri | sat")
            .expect_err("mixed");
        assert_eq!(err.column(), Some(18));
    }
}
