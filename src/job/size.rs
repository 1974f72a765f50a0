//! Byte sizes as people write them: `1MiB`, `10MB`, `512KiB`, `4096`.

/// Parses a size; binary (`KiB`, `MiB`, `GiB`) and decimal (`KB`, `MB`, `GB`) units,
/// `K`/`M`/`G` meaning binary.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("bad size {text:?}: expected a number with an optional unit, like 1MiB")
    })?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "bad size unit {other:?} in {text:?}: expected B, KiB, MiB or GiB"
            ))
        }
    };
    match n.checked_mul(factor) {
        Some(0) => Err(format!("size {text:?} must be positive")),
        Some(size) => Ok(size),
        None => Err(format!("size {text:?} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
