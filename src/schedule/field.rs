//! One cron-style field (`*`, `a`, `a-b`, `*/s`, `a-b/s`, `a/s`, comma lists, names)
//! turned into a bit mask. Shared by cron fields and by date fragments (`mon-fri`).

/// The shape of a field: its numeric range and the names it accepts.
#[derive(Debug)]
pub struct FieldKind {
    /// What the field is called in error messages.
    pub label: &'static str,
    /// Smallest and largest value written in the field.
    pub min: u32,
    pub max: u32,
    /// Names for values `name_base`, `name_base + 1`, … (empty: numbers only).
    pub names: &'static [&'static str],
    pub name_base: u32,
}

/// Weekday names in cron order, Sunday = 0.
pub const WEEKDAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
/// Month names, January = 1.
pub const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

pub const MINUTE: FieldKind = FieldKind {
    label: "minute",
    min: 0,
    max: 59,
    names: &[],
    name_base: 0,
};
pub const HOUR: FieldKind = FieldKind {
    label: "hour",
    min: 0,
    max: 23,
    names: &[],
    name_base: 0,
};
pub const DAY: FieldKind = FieldKind {
    label: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    name_base: 0,
};
pub const MONTH: FieldKind = FieldKind {
    label: "month",
    min: 1,
    max: 12,
    names: &MONTH_NAMES,
    name_base: 1,
};
/// Weekdays: 0-7 with both 0 and 7 meaning Sunday.
pub const WEEKDAY: FieldKind = FieldKind {
    label: "weekday",
    min: 0,
    max: 7,
    names: &WEEKDAY_NAMES,
    name_base: 0,
};

/// A field's value as written: a number or a name.
#[derive(Clone, Copy)]
enum Value {
    Number(u32),
    Name(u32),
}

impl Value {
    fn get(self) -> u32 {
        match self {
            Value::Number(v) | Value::Name(v) => v,
        }
    }
}

impl FieldKind {
    fn value(&self, text: &str, names_only: bool) -> Result<Value, String> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            if names_only {
                return Err(format!("expected a {} name, found {text:?}", self.label));
            }
            let n: u32 = text
                .parse()
                .map_err(|_| format!("{} value {text:?} is too large", self.label))?;
            if n < self.min || n > self.max {
                return Err(format!(
                    "{} value {n} out of range {}-{}",
                    self.label, self.min, self.max
                ));
            }
            return Ok(Value::Number(n));
        }
        match self.names.iter().position(|name| *name == text) {
            Some(i) => Ok(Value::Name(self.name_base + i as u32)),
            None => Err(format!("bad {} value {text:?}", self.label)),
        }
    }

    /// The last value a name can take (Saturday, December) for wrap-around ranges.
    fn name_max(&self) -> u32 {
        self.name_base + self.names.len() as u32 - 1
    }

    /// Parses the whole field into a mask with bit `v` set for each matching value
    /// (weekday 7 is folded onto 0). `names_only` rejects numbers (for fragments).
    pub fn parse(&self, field: &str, names_only: bool) -> Result<u64, String> {
        let mut mask = 0u64;
        for item in field.split(',') {
            if item.is_empty() {
                return Err(format!("empty item in {} field {field:?}", self.label));
            }
            mask |= self.parse_item(item, names_only)?;
        }
        if self.label == WEEKDAY.label && mask & (1 << 7) != 0 {
            mask = (mask | 1) & !(1 << 7);
        }
        Ok(mask)
    }

    fn parse_item(&self, item: &str, names_only: bool) -> Result<u64, String> {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => {
                let step: u32 = match step.parse() {
                    Ok(s) if s > 0 && step.bytes().all(|b| b.is_ascii_digit()) => s,
                    _ => return Err(format!("bad step {step:?} in {} field", self.label)),
                };
                (base, Some(step))
            }
            None => (item, None),
        };
        // The sequence of values the item walks, before stepping.
        let sequence: Vec<u32> = if base == "*" {
            if names_only {
                return Err(format!("expected a {} name, found {base:?}", self.label));
            }
            (self.min..=self.max).collect()
        } else if let Some((a, b)) = base.split_once('-') {
            let (a, b) = (self.value(a, names_only)?, self.value(b, names_only)?);
            match (a, b) {
                (Value::Name(a), Value::Name(b)) if a > b => {
                    (a..=self.name_max()).chain(self.name_base..=b).collect()
                }
                _ if a.get() > b.get() => {
                    return Err(format!("descending range {base:?} in {} field", self.label))
                }
                _ => (a.get()..=b.get()).collect(),
            }
        } else {
            let a = self.value(base, names_only)?.get();
            match step {
                Some(_) => (a..=self.max).collect(),
                None => vec![a],
            }
        };
        let step = step.unwrap_or(1) as usize;
        Ok(sequence
            .into_iter()
            .step_by(step)
            .fold(0u64, |mask, v| mask | (1u64 << v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(mask: u64) -> Vec<u32> {
        (0..64).filter(|b| mask & (1 << b) != 0).collect()
    }

    #[test]
    fn parses_items() {
        assert_eq!(bits(MINUTE.parse("0-10/3", false).unwrap()), [0, 3, 6, 9]);
        assert_eq!(bits(WEEKDAY.parse("1/2", false).unwrap()), [0, 1, 3, 5]);
        assert_eq!(bits(WEEKDAY.parse("fri-mon", false).unwrap()), [0, 1, 5, 6]);
        assert_eq!(bits(MONTH.parse("nov-feb", false).unwrap()), [1, 2, 11, 12]);
        assert_eq!(bits(WEEKDAY.parse("0,7", false).unwrap()), [0]);
    }

    #[test]
    fn rejects_bad_items() {
        for bad in ["*/0", "1-0", "l", "", "1,,2", "60", "?", "1w", "-1"] {
            assert!(MINUTE.parse(bad, false).is_err(), "{bad}");
        }
        assert!(WEEKDAY.parse("8", false).is_err());
        assert!(WEEKDAY.parse("1-5", true).is_err());
    }
}
