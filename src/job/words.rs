//! Splitting a command into a program and its arguments without a shell (`shell:
//! false`), reading quotes the way `sh` does, so an argument can hold spaces:
//! `printf '%s\n' "a b" c\ d` is `printf`, `%s\n`, `a b`, `c d`.

/// Why a command cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unterminated {quote} quote in {text:?}")]
pub struct UnterminatedQuote {
    pub quote: &'static str,
    pub text: String,
}

/// The words of `text`: separated by unquoted whitespace; `'…'` keeps everything
/// literally; `"…"` keeps everything but a backslash before `"`, `\`, `$` or a
/// backquote; an unquoted backslash keeps the next character.
pub fn split_words(text: &str) -> Result<Vec<String>, UnterminatedQuote> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unterminated("single", text)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unterminated("double", text)),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unterminated("double", text)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn unterminated(quote: &'static str, text: &str) -> UnterminatedQuote {
    UnterminatedQuote {
        quote,
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split_words(text).expect("splits")
    }

    #[test]
    fn quotes_keep_spaces() {
        assert_eq!(
            words(r#"printf '%s\n' "a b" c\ d"#),
            ["printf", r"%s\n", "a b", "c d"]
        );
        assert_eq!(
            words(r#"echo "say \"hi\" \$HOME \n""#),
            ["echo", r#"say "hi" $HOME \n"#]
        );
        assert_eq!(words("  a   b\tc\n"), ["a", "b", "c"]);
        assert_eq!(words(r#"x '' "" y"#), ["x", "", "", "y"]);
        assert_eq!(words(r#"a'b c'"d e"f"#), ["ab cd ef"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_words("echo 'oops").is_err());
        assert!(split_words("echo \"oops").is_err());
    }
}
