//! The ground floor: types and helpers that every other floor may use and that use nothing
//! of the crate themselves (the layer rule in `docs/architecture.md`). The bodies (`body`),
//! where a pooled connection returns (`pool`), what a connection shares with its requests
//! (`conn`), the interim (1xx) heads waiting for an HTTP/1.1 client (`interim`), calendar
//! dates (`civil`), writing a file atomically (`fs`), header names (`headers`), structured-field values (`sf`), `lock`,
//! `AbortOnDrop`, and the `write_through!` macro of I/O wrappers that only watch reads.

pub mod body;
pub mod civil;
pub mod conn;
pub mod fs;
#[cfg(test)]
mod fuzz;
pub mod headers;
pub mod interim;
pub mod pool;
pub mod sf;
pub(crate) mod write_through;

use std::sync::{Mutex, MutexGuard};

/// A spawned task aborted when its handle is dropped (background tasks owned by a gateway).
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Locks a mutex, ignoring poisoning: the cores hold plain counters that stay consistent
/// even if a holder panicked.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
