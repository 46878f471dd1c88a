//! The formatting of the bench's figures for its one table: medians, thousands grouped as in BENCHMARKS.md,
//! and the verdicts against the targets.

/// The verdict on an RSS of `mib` MiB against the target of 150 MB.
pub(super) fn within_150_mb(mib: f64) -> String {
    format!("≤ 150 MB — {}", verdict(mib * 1.048_576 <= 150.0))
}

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Thousands separated by a thin space, as in BENCHMARKS.md.
pub(super) fn grouped(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

pub(super) fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}
