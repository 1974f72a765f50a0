//! Doing one thing to many jobs at once: stopping fifty jobs one after another waits
//! out fifty stops; together they take as long as the slowest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// At most this many at once (each mostly waits on a supervisor's answer).
const WORKERS: usize = 64;

/// `f` on every item, on a few threads; the results in the items' order.
pub fn each<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    each_on(WORKERS, items, f)
}

/// The machine's cores: how many threads work that never waits is worth.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// [`each`] on at most `workers` threads.
pub fn each_on<T: Sync, R: Send>(
    workers: usize,
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if items.len() <= 1 || workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..items.len().min(workers) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_and_the_work_overlaps() {
        let items: Vec<u64> = (0..40).collect();
        let started = std::time::Instant::now();
        let doubled = super::each(&items, |n| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            n * 2
        });
        assert_eq!(doubled, (0..40).map(|n| n * 2).collect::<Vec<_>>());
        // 40 waits of 50 ms on 64 threads: one round, not forty.
        assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    }
}
