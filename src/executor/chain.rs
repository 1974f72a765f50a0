//! Chains of steps as users write them: `a + b + c` (like `&&`), where a lone `++`
//! stands for a literal `+`.

/// Splits a command string into steps at lone `+` words, keeping each step's text
/// (quotes and spacing) as written.
pub fn split_chain(text: &str) -> Vec<String> {
    let mut steps = Vec::new();
    let mut current = String::new();
    let mut last_end = 0;
    for (start, end) in word_spans(text) {
        let word = &text[start..end];
        if word == "+" {
            steps.push(current.trim().to_string());
            current.clear();
        } else {
            current.push_str(&text[last_end..start]);
            current.push_str(if word == "++" { "+" } else { word });
        }
        last_end = end;
    }
    steps.push(current.trim().to_string());
    steps.retain(|s| !s.is_empty());
    steps
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
pub fn split_chain_args(words: &[String]) -> Vec<String> {
    words
        .split(|w| w == "+")
        .filter(|step| !step.is_empty())
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
        .collect()
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
            ["true", "false", "touch x"]
        );
        assert_eq!(split_chain("echo 1 ++ 1"), ["echo 1 + 1"]);
        assert_eq!(
            split_chain("sh -c 'a + b' + echo \"x + y\""),
            ["sh -c 'a + b'", "echo \"x + y\""]
        );
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
            ["sh -c 'sleep 300 & wait'", "echo hi there"]
        );
        assert_eq!(
            split_chain_args(&words(&["expr", "1", "++", "1"])),
            ["expr 1 + 1"]
        );
        assert_eq!(shell_join(&words(&["echo", "it's"])), r"echo 'it'\''s'");
    }
}
