//! Chains of steps as users write them: `a + b + c` (like `&&`), where a lone `++`
//! stands for a literal `+`. An empty step (`a + + b`, a leading or trailing `+`) is
//! an error rather than being dropped, so a typo never silently changes the chain.

/// A chain with an empty step. `offset` says where: in a command string, the byte
/// offset of the `+` next to the empty step; in command-line words, the index of that
/// `+` word.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "empty step in the chain: {place} (a lone `+` separates steps; write `++` for a literal `+`)"
)]
pub struct EmptyStep {
    /// Byte offset (text) or word index (arguments) of the offending `+`.
    pub offset: usize,
    /// `a leading +`, `a trailing +` or `+ + with nothing between`.
    pub place: &'static str,
}

/// Which `+` to blame for an empty step `index` of `count` steps, given the positions
/// of the separators.
fn empty_step(index: usize, count: usize, separators: &[usize]) -> EmptyStep {
    let (offset, place) = if index == 0 {
        (separators[0], "a leading `+`")
    } else if index + 1 == count {
        (separators[index - 1], "a trailing `+`")
    } else {
        (separators[index], "`+ +` with nothing between")
    };
    EmptyStep { offset, place }
}

/// Splits a command string into steps at lone `+` words, keeping each step's text
/// (quotes and spacing) as written. Text without any `+` that is blank gives no steps
/// (the caller decides whether an empty command is allowed).
pub fn split_chain(text: &str) -> Result<Vec<String>, EmptyStep> {
    let mut steps = Vec::new();
    let mut separators = Vec::new();
    let mut current = String::new();
    let mut last_end = 0;
    for (start, end) in word_spans(text) {
        let word = &text[start..end];
        if word == "+" {
            steps.push(current.trim().to_string());
            separators.push(start);
            current.clear();
        } else {
            current.push_str(&text[last_end..start]);
            current.push_str(if word == "++" { "+" } else { word });
        }
        last_end = end;
    }
    steps.push(current.trim().to_string());
    if separators.is_empty() {
        steps.retain(|s| !s.is_empty());
        return Ok(steps);
    }
    match steps.iter().position(|s| s.is_empty()) {
        Some(i) => Err(empty_step(i, steps.len(), &separators)),
        None => Ok(steps),
    }
}

/// Shell-like words: whitespace inside quotes does not end a word.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut begin = None;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {
                if c == '\\' && quote == Some('"') {
                    escaped = true;
                }
                continue;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                begin.get_or_insert(i);
                continue;
            }
            None if c == '\\' => {
                escaped = true;
                begin.get_or_insert(i);
                continue;
            }
            None => {}
        }
        match (c.is_whitespace(), begin) {
            (true, Some(b)) => {
                spans.push((b, i));
                begin = None;
            }
            (false, None) => begin = Some(i),
            _ => {}
        }
    }
    if let Some(b) = begin {
        spans.push((b, text.len()));
    }
    spans
}

/// Splits command-line words (after `--`) into steps at lone `+`. A step given as a
/// single word is a shell command as written (`'echo a; echo b'`); a step of several
/// words is a program and its arguments, quoted so the shell sees them unchanged.
/// No words give no steps; an empty step between `+` words is an error.
pub fn split_chain_args(words: &[String]) -> Result<Vec<String>, EmptyStep> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let separators: Vec<usize> = (0..words.len()).filter(|&i| words[i] == "+").collect();
    let groups: Vec<&[String]> = words.split(|w| w == "+").collect();
    if let Some(i) = groups.iter().position(|g| g.is_empty()) {
        return Err(empty_step(i, groups.len(), &separators));
    }
    Ok(groups
        .into_iter()
        .map(|step| {
            let step: Vec<String> = step
                .iter()
                .map(|w| {
                    if w == "++" {
                        "+".to_string()
                    } else {
                        w.clone()
                    }
                })
                .collect();
            match step.as_slice() {
                [only] => only.clone(),
                many => shell_join(many),
            }
        })
        .collect())
}

/// Quotes words for `sh -c` so each stays one argument.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn chains_from_text() {
        assert_eq!(
            split_chain("true + false + touch x"),
            Ok(words(&["true", "false", "touch x"]))
        );
        assert_eq!(split_chain("echo 1 ++ 1"), Ok(words(&["echo 1 + 1"])));
        assert_eq!(
            split_chain("sh -c 'a + b' + echo \"x + y\""),
            Ok(words(&["sh -c 'a + b'", "echo \"x + y\""]))
        );
        assert_eq!(split_chain("   "), Ok(Vec::new()));
    }

    #[test]
    fn empty_steps_in_text_are_errors_that_point_at_the_plus() {
        let between = split_chain("a + + b").unwrap_err();
        assert_eq!(between.offset, 4);
        assert!(between.to_string().contains("`+ +`"), "{between}");
        let leading = split_chain("+ a").unwrap_err();
        assert_eq!((leading.offset, leading.place), (0, "a leading `+`"));
        let trailing = split_chain("a  +").unwrap_err();
        assert_eq!((trailing.offset, trailing.place), (3, "a trailing `+`"));
        assert!(split_chain("+").is_err());
    }

    #[test]
    fn chains_from_words() {
        assert_eq!(
            split_chain_args(&words(&[
                "sh",
                "-c",
                "sleep 300 & wait",
                "+",
                "echo hi there"
            ])),
            Ok(words(&["sh -c 'sleep 300 & wait'", "echo hi there"]))
        );
        assert_eq!(
            split_chain_args(&words(&["expr", "1", "++", "1"])),
            Ok(words(&["expr 1 + 1"]))
        );
        assert_eq!(shell_join(&words(&["echo", "it's"])), r"echo 'it'\''s'");
        assert_eq!(split_chain_args(&[]), Ok(Vec::new()));
    }

    #[test]
    fn empty_steps_in_words_are_errors() {
        let between = split_chain_args(&words(&["a", "+", "+", "b"])).unwrap_err();
        assert_eq!(between.offset, 2);
        let trailing = split_chain_args(&words(&["a", "+"])).unwrap_err();
        assert_eq!((trailing.offset, trailing.place), (1, "a trailing `+`"));
        let leading = split_chain_args(&words(&["+", "a"])).unwrap_err();
        assert_eq!((leading.offset, leading.place), (0, "a leading `+`"));
    }
}
