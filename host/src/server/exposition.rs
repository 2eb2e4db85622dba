//! Reading back the Prometheus text weir itself exposes, so the status page shows the
//! very numbers a scraper gets and never a second count of its own.

/// One sample line: `name{label="value",…} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Every sample of the exposition; comments and lines it cannot read are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, after) = labels(&line[open + 1..])?;
            (&line[..open], labels, after)
        }
        None => {
            let space = line.find(' ')?;
            (&line[..space], Vec::new(), &line[space..])
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name: name.to_string(), labels, value })
}

/// `k="v",…}` and what follows the closing brace; values unescaped (`\\`, `\"`, `\n`).
fn labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find("=\"")?;
        let key = rest[..eq].to_string();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break eq + 2 + i + 1,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key, value));
        rest = &rest[end..];
    }
}

/// The `q` quantile (0..1) of a histogram from its cumulative buckets `(le, count)`,
/// interpolated within the bucket it falls in; `None` with no observations.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.iter().map(|(_, c)| *c).fold(0.0, f64::max);
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, count) in buckets {
        if *count >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let share = if *count > below { (rank - below) / (count - below) } else { 1.0 };
            return Some(lower + (le - lower) * share);
        }
        (lower, below) = (*le, *count);
    }
    Some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels_unescaped() {
        let text =
            "# HELP x y\nweir_ready 1\nweir_records_consumed_total{topic=\"user-login\"} 42\n\
                    weir_dead_letters_total{stage=\"a \\\"b\\\"\",kind=\"x\\\\y\"} 3\nbroken{ 1\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3, "{samples:?}");
        assert_eq!(samples[0], Sample { name: "weir_ready".into(), labels: vec![], value: 1.0 });
        assert_eq!(samples[1].label("topic"), Some("user-login"));
        assert_eq!(samples[1].value, 42.0);
        assert_eq!(
            (samples[2].label("stage"), samples[2].label("kind")),
            (Some("a \"b\""), Some("x\\y"))
        );
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let buckets = [(0.001, 50.0), (0.002, 90.0), (0.004, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile(&buckets, 0.5), Some(0.001));
        let p70 = quantile(&buckets, 0.7).unwrap();
        assert!((p70 - 0.0015).abs() < 1e-9, "{p70}");
        assert!((quantile(&buckets, 0.99).unwrap() - 0.0038).abs() < 1e-9);
        assert_eq!(quantile(&[(0.001, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }
}
