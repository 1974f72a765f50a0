//! `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$` in spec values, as
//! compose reads them.

use std::collections::BTreeMap;

/// Variables for interpolation: the environment over the project's `.env` file.
#[derive(Clone, Debug, Default)]
pub struct Vars(pub BTreeMap<String, String>);

impl Vars {
    /// `.env` entries (if any) overridden by the process environment.
    pub fn from_env(dotenv: BTreeMap<String, String>) -> Vars {
        let mut vars = dotenv;
        vars.extend(std::env::vars());
        Vars(vars)
    }
}

/// Substitutes variables in `text`; errors carry the byte offset of the `$`.
pub fn interpolate(text: &str, vars: &Vars) -> Result<String, (usize, String)> {
    interpolate_noting(text, vars, &mut |_, _| {})
}

/// [`interpolate`], telling `unset` (byte offset of the `$`, name) about every plain
/// `${VAR}` whose variable is not set, which becomes an empty string: compose warns
/// about those, since a typo in a name otherwise goes unnoticed.
pub fn interpolate_noting(
    text: &str,
    vars: &Vars,
    unset: &mut dyn FnMut(usize, &str),
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let at = offset + i;
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            offset = at + 2;
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            // A lone `$` (or `$VAR` without braces) is kept as written.
            out.push('$');
            offset = at + 1;
            rest = after;
            continue;
        };
        let Some(close) = body.find('}') else {
            return Err((at, "unclosed `${`: expected `}`".into()));
        };
        let expr = &body[..close];
        if valid_name(expr) && !vars.0.contains_key(expr) {
            unset(at, expr);
        }
        out.push_str(&expand(expr, vars).map_err(|m| (at, m))?);
        offset = at + 2 + close + 1;
        rest = &body[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expand(expr: &str, vars: &Vars) -> Result<String, String> {
    let (name, op) = match expr.find([':', '-', '?']) {
        Some(i) => (&expr[..i], Some(&expr[i..])),
        None => (expr, None),
    };
    if !valid_name(name) {
        return Err(format!("bad variable name {name:?} in `${{{expr}}}`"));
    }
    let value = vars.0.get(name).map(String::as_str);
    match op {
        None => Ok(value.unwrap_or_default().to_string()),
        Some(op) => {
            let (unset_or_empty, rest) = match op.strip_prefix(':') {
                Some(r) => (true, r),
                None => (false, op),
            };
            let missing = match value {
                None => true,
                Some(v) => unset_or_empty && v.is_empty(),
            };
            if let Some(default) = rest.strip_prefix('-') {
                Ok(if missing {
                    default.to_string()
                } else {
                    value.unwrap_or_default().to_string()
                })
            } else if let Some(message) = rest.strip_prefix('?') {
                if missing {
                    let message = if message.is_empty() {
                        "is required"
                    } else {
                        message
                    };
                    Err(format!("variable {name} is not set: {message}"))
                } else {
                    Ok(value.unwrap_or_default().to_string())
                }
            } else {
                Err(format!("bad substitution `${{{expr}}}`: expected ${{VAR}}, ${{VAR:-default}} or ${{VAR:?message}}"))
            }
        }
    }
}

/// Reads a `.env`-style file: `KEY=value` lines, `#` comments, optional `export`,
/// optional matching quotes around the value. Errors name the line but never quote
/// it: it may hold a secret.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut vars = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((
                i + 1,
                "expected KEY=value (the line is not shown: it may hold a secret)".to_string(),
            ));
        };
        let key = key.trim();
        if !valid_name(key) {
            return Err((i + 1, format!("bad variable name {key:?}")));
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        vars.insert(key.to_string(), unquoted.to_string());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars(BTreeMap::from([
            ("NAME".to_string(), "etl".to_string()),
            ("EMPTY".to_string(), String::new()),
        ]))
    }

    #[test]
    fn substitutions() {
        let v = vars();
        assert_eq!(interpolate("run ${NAME}", &v), Ok("run etl".into()));
        assert_eq!(
            interpolate("${MISSING:-x} ${EMPTY:-y} ${EMPTY-z}", &v),
            Ok("x y ".into())
        );
        assert_eq!(
            interpolate("cost $$5 and $HOME", &v),
            Ok("cost $5 and $HOME".into())
        );
        assert_eq!(interpolate("${MISSING}", &v), Ok(String::new()));
        let err = interpolate("a ${TOKEN:?set the token}", &v).unwrap_err();
        assert_eq!(
            err,
            (2, "variable TOKEN is not set: set the token".to_string())
        );
        assert!(interpolate("${OPEN", &v).is_err());
        assert!(interpolate("${1BAD}", &v).is_err());
    }

    #[test]
    fn unset_variables_without_a_default_are_noted() {
        let mut noted = Vec::new();
        let text = interpolate_noting(
            "a ${MISSING} ${NAME} ${EMPTY} ${OTHER:-x} ${GONE-y} $${LITERAL}",
            &vars(),
            &mut |at, name| noted.push((at, name.to_string())),
        );
        assert_eq!(text, Ok("a  etl  x y ${LITERAL}".into()));
        assert_eq!(noted, [(2, "MISSING".to_string())]);
    }

    #[test]
    fn env_files() {
        let vars = parse_env_file("# c\nexport A=1\nB = \"two words\"\n\nC='x'\n").expect("parses");
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x");
        assert_eq!(parse_env_file("oops").unwrap_err().0, 1);
    }
}
