//! Where token counts live. The window logic talks to a [`Ledger`]; the shared-data ledger below
//! keeps counts in proxy-wasm shared data (exact across all worker threads of one Envoy). A
//! cross-replica ledger (Envoy's rate limit service protocol: `hits_addend` + OVER_LIMIT) implements
//! the same trait without touching the window logic.

use crate::window::{Counts, Window};
use std::cell::Cell;

/// Outcome of an attempt to reserve tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The tokens were added.
    pub admitted: bool,
    /// Tokens used in the window after the attempt.
    pub used: u64,
    /// Time until the requested amount would fit (`Some(0)` if admitted, `None` if it never can).
    pub wait_ms: Option<u64>,
    /// Time until the window is empty again (for `x-ratelimit-reset-*`).
    pub reset_ms: u64,
}

/// The ledger could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerError {
    /// Too many concurrent writers on one key; gave up after a bounded number of attempts.
    Contention,
    /// The backend failed.
    Unavailable,
}

/// Token accounting per key and window.
pub trait Ledger {
    /// Atomically adds `amount` if `used + amount <= limit`.
    fn reserve(
        &self,
        key: &str,
        w: &Window,
        now_ms: u64,
        amount: u64,
        limit: u64,
    ) -> Result<Reservation, LedgerError>;
    /// Corrects an earlier charge made at `at_ms` by `delta` tokens (the real usage minus the estimate).
    fn adjust(
        &self,
        key: &str,
        w: &Window,
        now_ms: u64,
        at_ms: u64,
        delta: i64,
    ) -> Result<(), LedgerError>;
}

/// Compare-and-swap key/value storage (proxy-wasm shared data, or a map in tests).
pub trait Store {
    /// Value and its version; `(None, None)` if absent.
    fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError>;
    /// Writes if the version still is `cas` (`None`: unconditionally).
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// A [`Store`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Someone else wrote since our read.
    CasMismatch,
    /// Anything else.
    Failed,
}

/// Attempts per operation before giving up (each is one read and one write).
pub const MAX_ATTEMPTS: u32 = 32;

/// A [`Ledger`] over a CAS [`Store`].
pub struct SharedLedger<S: Store> {
    store: S,
    /// Distinguishes this VM's writes (see `write`).
    nonce: u64,
    writes: Cell<u32>,
}

impl<S: Store> SharedLedger<S> {
    /// `nonce` must differ between the VMs sharing the store (e.g. derived from the start time).
    pub fn new(store: S, nonce: u32) -> Self {
        Self {
            store,
            nonce: u64::from(nonce) << 32,
            writes: Cell::new(0),
        }
    }

    /// Read-modify-write with CAS; `f` returns `false` to stop without writing.
    fn update<T>(
        &self,
        key: &str,
        mut f: impl FnMut(&mut Counts) -> (bool, T),
    ) -> Result<T, LedgerError> {
        for _ in 0..MAX_ATTEMPTS {
            let (bytes, cas) = self.store.get(key).map_err(|_| LedgerError::Unavailable)?;
            let mut counts = bytes
                .as_deref()
                .map(|b| Counts::decode(b).1)
                .unwrap_or_default();
            let (write, result) = f(&mut counts);
            if !write {
                return Ok(result);
            }
            let n = self.writes.get().wrapping_add(1);
            self.writes.set(n);
            let tag = self.nonce | u64::from(n);
            match self.store.set(key, &counts.encode(tag), cas) {
                Ok(()) if cas.is_some() => return Ok(result),
                Ok(()) => {
                    // Creating a key cannot be conditional in proxy-wasm: two workers may both
                    // create it. Read back; if another write replaced ours, redo ours on top of it.
                    let (now, _) = self.store.get(key).map_err(|_| LedgerError::Unavailable)?;
                    if now.as_deref().map(|b| Counts::decode(b).0) == Some(tag) {
                        return Ok(result);
                    }
                }
                Err(StoreError::CasMismatch) => {}
                Err(StoreError::Failed) => return Err(LedgerError::Unavailable),
            }
        }
        Err(LedgerError::Contention)
    }
}

impl<S: Store> Ledger for SharedLedger<S> {
    fn reserve(
        &self,
        key: &str,
        w: &Window,
        now_ms: u64,
        amount: u64,
        limit: u64,
    ) -> Result<Reservation, LedgerError> {
        self.update(key, |counts| {
            counts.prune(w, now_ms);
            let used = counts.used(w, now_ms);
            if used.saturating_add(amount) > limit {
                let r = Reservation {
                    admitted: false,
                    used,
                    wait_ms: counts.wait_ms(w, now_ms, amount, limit),
                    reset_ms: counts.wait_ms(w, now_ms, limit, limit).unwrap_or(0),
                };
                return (false, r);
            }
            counts.add(w, now_ms, now_ms, i64::try_from(amount).unwrap_or(i64::MAX));
            let r = Reservation {
                admitted: true,
                used: used + amount,
                wait_ms: Some(0),
                reset_ms: counts
                    .wait_ms(w, now_ms, limit.max(1), limit.max(1))
                    .unwrap_or(0),
            };
            (true, r)
        })
    }

    fn adjust(
        &self,
        key: &str,
        w: &Window,
        now_ms: u64,
        at_ms: u64,
        delta: i64,
    ) -> Result<(), LedgerError> {
        if delta == 0 {
            return Ok(());
        }
        self.update(key, |counts| {
            counts.add(w, now_ms, at_ms, delta);
            (true, ())
        })
    }
}

#[cfg(test)]
pub mod mem {
    //! An in-memory [`Store`] with Envoy's CAS semantics, for tests.
    use super::{Store, StoreError};
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A hook run against the store to simulate another worker.
    pub type Hook = RefCell<Option<Box<dyn FnMut(&MemStore)>>>;

    /// Map of key → (value, version).
    #[derive(Default)]
    pub struct MemStore {
        pub map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        pub version: std::cell::Cell<u32>,
        /// Called between a get and the next set, to simulate another worker's write.
        pub interleave: Hook,
        /// Called right after the next set.
        pub after_set: Hook,
    }

    impl MemStore {
        /// Another worker's unconditional write of `counts`.
        pub fn foreign_write(&self, key: &str, value: Vec<u8>) {
            let v = self.version.get() + 1;
            self.version.set(v);
            self.map.borrow_mut().insert(key.to_owned(), (value, v));
        }
    }

    impl Store for MemStore {
        fn get(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), StoreError> {
            Ok(match self.map.borrow().get(key) {
                Some((v, c)) => (Some(v.clone()), Some(*c)),
                None => (None, None),
            })
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            if let Some(mut f) = self.interleave.borrow_mut().take() {
                f(self);
            }
            {
                let map = self.map.borrow();
                if let (Some(c), Some((_, cur))) = (cas, map.get(key)) {
                    if c != *cur {
                        return Err(StoreError::CasMismatch);
                    }
                }
            }
            self.foreign_write(key, value.to_vec());
            if let Some(mut f) = self.after_set.borrow_mut().take() {
                f(self);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mem::MemStore;
    use super::*;

    const W: Window = Window {
        slot_ms: 1000,
        slots: 60,
    };

    #[test]
    fn admits_up_to_the_limit() {
        let l = SharedLedger::new(MemStore::default(), 1);
        assert!(l
            .reserve("k", &W, 1000, 60, 100)
            .map(|r| r.admitted)
            .unwrap_or(false));
        let r = l
            .reserve("k", &W, 2000, 50, 100)
            .unwrap_or_else(|_| unreachable!());
        assert!(!r.admitted);
        assert_eq!(r.used, 60);
        assert_eq!(r.wait_ms, Some(60_000)); // slot 1 leaves when slot 62 begins (62 s - 2 s)
        assert!(l
            .reserve("k", &W, 2000, 40, 100)
            .map(|r| r.admitted)
            .unwrap_or(false));
        assert!(l
            .reserve("other", &W, 2000, 100, 100)
            .map(|r| r.admitted)
            .unwrap_or(false));
    }

    fn thirty() -> Vec<u8> {
        let mut c = Counts::default();
        c.add(&W, 1000, 1000, 30);
        c.encode(7)
    }

    #[test]
    fn a_concurrent_write_is_not_lost() {
        let l = SharedLedger::new(MemStore::default(), 1);
        let _ = l.reserve("k", &W, 1000, 10, 100);
        // Another worker writes between our read and our write: our CAS fails and we retry on top.
        *l.store.interleave.borrow_mut() = Some(Box::new(|s: &MemStore| {
            let mut c = s
                .map
                .borrow()
                .get("k")
                .map(|(v, _)| Counts::decode(v).1)
                .unwrap_or_default();
            c.add(&W, 1000, 1000, 30);
            s.foreign_write("k", c.encode(7));
        }));
        let r = l
            .reserve("k", &W, 1000, 20, 100)
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(r.used, 60);
    }

    #[test]
    fn a_racing_creation_is_redone() {
        let l = SharedLedger::new(MemStore::default(), 1);
        // We create the key; another worker that also saw it missing overwrites our value. The
        // read-back sees its tag, so we apply our 20 again on top of its 30.
        *l.store.after_set.borrow_mut() =
            Some(Box::new(|s: &MemStore| s.foreign_write("k", thirty())));
        let r = l
            .reserve("k", &W, 1000, 20, 100)
            .unwrap_or_else(|_| unreachable!());
        assert!(r.admitted);
        let (_, c) = Counts::decode(&l.store.map.borrow()["k"].0);
        assert_eq!(c.used(&W, 1000), 50);
    }

    #[test]
    fn refunds_adjust_the_original_slot() {
        let l = SharedLedger::new(MemStore::default(), 1);
        let _ = l.reserve("k", &W, 1000, 100, 1000);
        let _ = l.adjust("k", &W, 5000, 1000, -60);
        let r = l
            .reserve("k", &W, 5000, 0, 1000)
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(r.used, 40);
    }
}
