//! Figures (median with min–max over the runs) and the markdown table with ratios against each peer.

use crate::peers::Peer;

/// The runs of one figure.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    samples: Vec<f64>,
}

impl Figure {
    /// A figure from its runs' values (non-finite ones dropped).
    pub fn new(samples: Vec<f64>) -> Figure {
        let mut samples: Vec<f64> = samples.into_iter().filter(|s| s.is_finite()).collect();
        samples.sort_by(f64::total_cmp);
        Figure { samples }
    }

    /// The median of the runs.
    pub fn median(&self) -> Option<f64> {
        let n = self.samples.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.samples[n / 2]),
            _ => Some((self.samples[n / 2 - 1] + self.samples[n / 2]) / 2.0),
        }
    }

    /// The lowest of the runs.
    pub fn min(&self) -> Option<f64> {
        self.samples.first().copied()
    }

    /// The highest of the runs.
    pub fn max(&self) -> Option<f64> {
        self.samples.last().copied()
    }
}

/// Percentile `p` (0–100) of unsorted values, nearest rank.
pub fn percentile(values: &mut [u64], p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// Human-sized number: three significant digits, `k`/`M` for large values.
pub fn num(v: f64) -> String {
    let (v, unit) = if v.abs() >= 1e6 {
        (v / 1e6, "M")
    } else if v.abs() >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{unit}")
}

/// A table cell: a figure, a figure with a remark, or why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    /// Runs' values and an optional remark.
    Value(Figure, Option<String>),
    /// Why the peer has no figure.
    Missing(String),
}

/// One line of the table: a metric of a scenario across the peers.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was run.
    pub scenario: String,
    /// What was measured.
    pub metric: String,
    /// Whether a larger value is better (↑) or worse (↓).
    pub higher_is_better: bool,
    /// One cell per peer.
    pub cells: Vec<(Peer, Cell)>,
}

impl Row {
    /// A row without cells yet.
    pub fn new(scenario: &str, metric: &str, higher_is_better: bool) -> Row {
        Row {
            scenario: scenario.into(),
            metric: metric.into(),
            higher_is_better,
            cells: Vec::new(),
        }
    }

    fn median(&self, peer: Peer) -> Option<f64> {
        self.cells
            .iter()
            .find(|(p, _)| *p == peer)
            .and_then(|(_, c)| match c {
                Cell::Value(f, _) => f.median(),
                Cell::Missing(_) => None,
            })
    }
}

/// The markdown table: one column per peer (median, min–max), then Trident's ratio to each other peer.
pub fn table(rows: &[Row], peers: &[Peer]) -> String {
    let others: Vec<Peer> = peers
        .iter()
        .copied()
        .filter(|p| *p != Peer::Trident)
        .collect();
    let mut out = String::from("| scenario | metric |");
    for peer in peers {
        out += &format!(" {} |", peer.name());
    }
    for peer in &others {
        out += &format!(" trident ÷ {} |", peer.name());
    }
    out += "\n|---|---|";
    for _ in 0..peers.len() + others.len() {
        out += "---|";
    }
    out += "\n";
    for row in rows {
        let arrow = if row.higher_is_better { "↑" } else { "↓" };
        out += &format!("| {} | {} {arrow} |", row.scenario, row.metric);
        for peer in peers {
            let cell = row.cells.iter().find(|(p, _)| p == peer).map(|(_, c)| c);
            let text = match cell {
                None => "–".to_string(),
                Some(Cell::Missing(why)) => format!("n/a ({why})"),
                Some(Cell::Value(f, note)) => match (f.median(), f.min(), f.max()) {
                    (Some(m), Some(lo), Some(hi)) => {
                        let note = note.as_ref().map(|n| format!(" {n}")).unwrap_or_default();
                        format!("**{}** ({}–{}){note}", num(m), num(lo), num(hi))
                    }
                    _ => "no data".into(),
                },
            };
            out += &format!(" {text} |");
        }
        for peer in &others {
            let ratio = match (row.median(Peer::Trident), row.median(*peer)) {
                (Some(t), Some(p)) if p != 0.0 => format!("{:.2}×", t / p),
                _ => "–".into(),
            };
            out += &format!(" {ratio} |");
        }
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(Figure::new(vec![3.0, 1.0, 2.0]).median(), Some(2.0));
        assert_eq!(Figure::new(vec![4.0, 1.0, 2.0, 3.0]).median(), Some(2.5));
        assert_eq!(Figure::new(vec![]).median(), None);
        let mut values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&mut values, 50.0), Some(50));
        assert_eq!(percentile(&mut values, 99.0), Some(99));
        assert_eq!(num(123456.0), "123k");
        assert_eq!(num(12.345), "12.3");
    }
}
