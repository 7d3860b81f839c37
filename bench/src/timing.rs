//! Timing helpers: samples recorded from criterion's runs (so the ratios come from the very
//! measurements criterion prints), medians, geometric means, throughput of threads, and the
//! markdown table of the summary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::BenchError;

/// Per-call times of every case, in nanoseconds, with the calls each sample timed, by case
/// name.
#[derive(Debug, Default)]
pub struct Samples {
    by_case: Mutex<BTreeMap<String, Vec<(f64, u64)>>>,
}

impl Samples {
    /// No samples yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `iterations` calls of `case` took `elapsed` in all.
    pub fn record(&self, case: &str, elapsed: Duration, iterations: u64) {
        if iterations == 0 {
            return;
        }
        let per_call = elapsed.as_secs_f64() * 1e9 / iterations as f64;
        let mut map = self.by_case.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(case.to_owned())
            .or_default()
            .push((per_call, iterations));
    }

    /// The median time per call of `case` in nanoseconds, `None` when it did not run (no
    /// C toolchain, or filtered out on the command line). Only samples of at least half the
    /// largest sample's calls count: criterion's warm-up also runs the case, with 1, 2, 4, ...
    /// calls, and a sample of a few calls says little of a call whose cost comes in batches
    /// (TBPF clears its stacks and heaps once every 16 calls).
    pub fn median_ns(&self, case: &str) -> Option<f64> {
        let map = self.by_case.lock().unwrap_or_else(PoisonError::into_inner);
        let samples = map.get(case)?;
        let most = samples.iter().map(|(_, n)| *n).max()?;
        let kept: Vec<f64> = samples
            .iter()
            .filter(|(_, n)| n.saturating_mul(2) >= most)
            .map(|(t, _)| *t)
            .collect();
        median(&kept)
    }

    /// `median(a) / median(b)`, when both ran.
    pub fn ratio(&self, a: &str, b: &str) -> Option<f64> {
        Some(self.median_ns(a)? / self.median_ns(b)?)
    }
}

/// The median of `values`, `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// The geometric mean of `values`, `None` when empty or when one is not positive.
pub fn geomean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    let logs: f64 = values.iter().map(|v| v.ln()).sum();
    Some((logs / values.len() as f64).exp())
}

/// Native stack of each thread of [`throughput`]: room for the host's deepest call frames.
const THREAD_STACK: usize = 16 * 1024 * 1024;

/// Calls per second of `threads` threads together, each running `work` in a loop for
/// `duration` after a common start. `setup` runs first in each thread (untimed) and gives
/// the state `work` takes.
///
/// # Errors
/// A thread that cannot start, or the first error a thread's `setup` or `work` returned.
pub fn throughput<S>(
    threads: usize,
    duration: Duration,
    setup: impl Fn() -> Result<S, BenchError> + Sync,
    work: impl Fn(&mut S) -> Result<(), BenchError> + Sync,
) -> Result<f64, BenchError> {
    // 0: wait, 1: go, 2: abort (a thread could not start). Every thread sets up first, then
    // waits for the gate, so the timed loops start together.
    let gate = AtomicU8::new(0);
    let ready = AtomicUsize::new(0);
    let results: Vec<Result<(u64, Duration), BenchError>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut failed = None;
        for _ in 0..threads {
            let (gate, ready, setup, work) = (&gate, &ready, &setup, &work);
            let spawned = std::thread::Builder::new()
                .stack_size(THREAD_STACK)
                .spawn_scoped(scope, move || {
                    let state = setup();
                    ready.fetch_add(1, Ordering::AcqRel);
                    while gate.load(Ordering::Acquire) == 0 {
                        std::thread::yield_now();
                    }
                    if gate.load(Ordering::Acquire) == 2 {
                        return Ok((0, Duration::ZERO));
                    }
                    let mut state = state?;
                    let start = Instant::now();
                    let mut calls = 0u64;
                    while start.elapsed() < duration {
                        work(&mut state)?;
                        calls += 1;
                    }
                    Ok((calls, start.elapsed()))
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    failed = Some(BenchError::new(format!("cannot start a thread: {e}")));
                    break;
                }
            }
        }
        if failed.is_none() {
            while ready.load(Ordering::Acquire) < threads {
                std::thread::yield_now();
            }
        }
        gate.store(if failed.is_some() { 2 } else { 1 }, Ordering::Release);
        let mut results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        if let Some(e) = failed {
            results.push(Err(e));
        }
        results
    });
    let mut total = 0.0;
    for r in results {
        let (calls, elapsed) = r?;
        total += calls as f64 / elapsed.as_secs_f64().max(1e-9);
    }
    Ok(total)
}

/// A duration in nanoseconds, as the tables show it.
pub fn show_ns(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

/// A ratio as the tables show it, "—" when a side did not run.
pub fn show_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}×"),
        Some(r) if r >= 10.0 => format!("{r:.1}×"),
        Some(r) => format!("{r:.2}×"),
        None => "—".to_owned(),
    }
}

/// A markdown table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as markdown.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        out.push_str(&line(&vec!["---".to_owned(); self.header.len()]));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}
