//! A progress indicator on stderr, shown only when stderr is a terminal and only for work
//! that takes longer than [`SHOW_AFTER`], so quick commands and pipes see nothing.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Work shorter than this shows no indicator.
const SHOW_AFTER: Duration = Duration::from_millis(300);
/// Redraw period.
const TICK: Duration = Duration::from_millis(100);
const FRAMES: [char; 4] = ['|', '/', '-', '\\'];

/// A running indicator; it clears its line when dropped.
#[derive(Debug)]
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts an indicator labelled `what` (e.g. `running entry 0`), or a no-op when stderr is
    /// not a terminal.
    pub(crate) fn start(what: impl Into<String>) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Progress { stop, thread: None };
        }
        let what = what.into();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tosvm-progress".into())
            .spawn(move || {
                let started = Instant::now();
                let mut drawn = false;
                let mut frame = 0usize;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    if started.elapsed() < SHOW_AFTER || flag.load(Ordering::Relaxed) {
                        continue;
                    }
                    let c = FRAMES[frame % FRAMES.len()];
                    frame = frame.wrapping_add(1);
                    let secs = started.elapsed().as_secs_f32();
                    let _ = write!(std::io::stderr(), "\r{c} {what} ({secs:.1}s)");
                    let _ = std::io::stderr().flush();
                    drawn = true;
                }
                if drawn {
                    // Erase the indicator's line.
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                    let _ = std::io::stderr().flush();
                }
            })
            .ok();
        Progress { stop, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `f` with an indicator labelled `what`.
pub(crate) fn with_progress<T>(what: impl Into<String>, f: impl FnOnce() -> T) -> T {
    let _p = Progress::start(what);
    f()
}
