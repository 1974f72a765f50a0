//! Prometheus' text exposition format (version 0.0.4), written by hand: a family's
//! `# HELP` and `# TYPE` once, then its samples, label values escaped as the format
//! says (`\\`, `\"`, `\n`). `promtool check metrics` reads what this writes.

use std::fmt::Write;

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family is to Prometheus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A scrape's text, family by family.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

/// `a="x",b="y"`, each value escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

/// A sample's value: integers as integers, `+Inf` as Prometheus spells it.
fn value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// Starts family `name`: its help line and type.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.name());
    }

    /// One sample of the family started last (`name` may carry a histogram's
    /// `_bucket`, `_sum` or `_count`).
    pub fn sample(&mut self, name: &str, pairs: &[(&str, &str)], v: f64) {
        if pairs.is_empty() {
            let _ = writeln!(self.text, "{name} {}", value(v));
        } else {
            let _ = writeln!(self.text, "{name}{{{}}} {}", labels(pairs), value(v));
        }
    }

    /// A whole histogram's samples: cumulative `buckets` (upper bounds `bounds`,
    /// then `+Inf` = `count`), `_sum` and `_count`.
    pub fn histogram(
        &mut self,
        name: &str,
        pairs: &[(&str, &str)],
        histogram: &super::Histogram,
        bounds: &[f64],
    ) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (i, bound) in bounds.iter().enumerate() {
            cumulative += histogram.buckets.get(i).copied().unwrap_or_default();
            let le = value(*bound);
            let mut with = pairs.to_vec();
            with.push(("le", &le));
            self.sample(&bucket, &with, cumulative as f64);
        }
        let mut with = pairs.to_vec();
        with.push(("le", "+Inf"));
        self.sample(&bucket, &with, histogram.count as f64);
        self.sample(&format!("{name}_sum"), pairs, histogram.sum);
        self.sample(&format!("{name}_count"), pairs, histogram.count as f64);
    }

    /// The text, ending with a newline as the format asks.
    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_values_spelled_as_prometheus_reads_them() {
        let mut e = Exposition::default();
        e.family("x_total", Kind::Counter, "a \\ help\nline");
        e.sample("x_total", &[("job", "a\"b\\c\nd")], 3.0);
        e.sample("x_total", &[], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n\
             x_total{job=\"a\\\"b\\\\c\\nd\"} 3\nx_total 0.25\n"
        );
        assert_eq!(value(f64::INFINITY), "+Inf");
    }
}
