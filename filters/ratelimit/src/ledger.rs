//! Where token counts live. The window logic talks to a [`Ledger`]; the shared-data ledger below
//! keeps counts in proxy-wasm shared data (exact across all worker threads of one Envoy). A
//! cross-replica ledger (Envoy's rate limit service protocol: `hits_addend` + OVER_LIMIT) implements
//! the same trait without touching the window logic.
//!
//! **Bounded memory.** proxy-wasm shared data cannot delete a key, so buckets do not get keys of
//! their own: a bucket key (`namespace \x1f identity`, the identity built from client-sent values
//! of any length) is hashed (SHA-256) to a 128-bit owner and a home slot, and lives in one of
//! [`PROBES`] slots of a fixed table of `capacity` slots per namespace (limit and budget), keyed
//! `namespace#slot`. A slot whose counts have left the window is free for another
//! owner. Memory is therefore bounded by the table, whatever the number of distinct keys; the
//! table must hold the buckets live within one window (else [`LedgerError::Full`]).

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
    /// Every slot this bucket may use holds another bucket's live counts (the table is too small
    /// for the keys live in one window).
    Full,
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

/// Slots a bucket may live in: its home slot and the next ones of its own probe sequence (double
/// hashing, so that buckets whose homes are close do not share a sequence and cluster).
pub const PROBES: u64 = 8;

/// Default slots per namespace (limit and budget).
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Bytes of the owner hash stored in front of a slot's counts.
const OWNER: usize = 16;

/// A [`Ledger`] over a CAS [`Store`].
pub struct SharedLedger<S: Store> {
    store: S,
    /// Distinguishes this VM's writes (see `write`).
    nonce: u64,
    writes: Cell<u32>,
    capacity: u64,
}

/// A slot as read: its store key, version and counts (empty if free).
struct Slot {
    key: String,
    cas: Option<u32>,
    counts: Counts,
}

impl<S: Store> SharedLedger<S> {
    /// `nonce` must differ between the VMs sharing the store (e.g. derived from the start time).
    pub fn new(store: S, nonce: u32) -> Self {
        Self::with_capacity(store, nonce, DEFAULT_CAPACITY)
    }

    /// A ledger whose tables have `capacity` slots per namespace.
    pub fn with_capacity(store: S, nonce: u32, capacity: u64) -> Self {
        Self {
            store,
            nonce: u64::from(nonce) << 32,
            writes: Cell::new(0),
            capacity: capacity.max(1),
        }
    }

    /// The slot holding `key`'s counts, or the first free one it may take (`None`: neither).
    fn find(&self, key: &str, w: &Window, now_ms: u64) -> Result<Option<Slot>, LedgerError> {
        use sha2::{Digest, Sha256};
        let (ns, _) = key.split_once('\u{1f}').unwrap_or((key, ""));
        let digest = Sha256::digest(key.as_bytes());
        let owner = digest.get(..OWNER).unwrap_or_default();
        let word = |at: usize| {
            digest
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let home = word(OWNER) % self.capacity;
        let step = 1 + word(OWNER + 8) % self.capacity.saturating_sub(1).max(1);
        let mut free = None;
        for p in 0..PROBES.min(self.capacity) {
            let at = home.wrapping_add(p.wrapping_mul(step)) % self.capacity;
            let slot_key = format!("{ns}#{at}");
            let (bytes, cas) = self
                .store
                .get(&slot_key)
                .map_err(|_| LedgerError::Unavailable)?;
            let bytes = bytes.unwrap_or_default();
            let (_, mut counts) = Counts::decode(bytes.get(OWNER..).unwrap_or_default());
            if bytes.get(..OWNER) == Some(owner) {
                return Ok(Some(Slot {
                    key: slot_key,
                    cas,
                    counts,
                }));
            }
            counts.prune(w, now_ms);
            // Another bucket's counts that left the window: the slot is free again. Keep looking
            // for our own slot further on before taking the first free one.
            if counts.is_empty() && free.is_none() {
                free = Some(Slot {
                    key: slot_key,
                    cas,
                    counts: Counts::default(),
                });
            }
        }
        Ok(free)
    }

    /// Read-modify-write of `key`'s counts with CAS; `f` returns `false` to stop without writing.
    /// `None` when `key` has no slot and `claim` is false (nothing to change).
    fn update<T>(
        &self,
        key: &str,
        w: &Window,
        now_ms: u64,
        claim: bool,
        mut f: impl FnMut(&mut Counts) -> (bool, T),
    ) -> Result<Option<T>, LedgerError> {
        use sha2::{Digest, Sha256};
        let owner = Sha256::digest(key.as_bytes());
        let owner = owner.get(..OWNER).unwrap_or_default();
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut slot) = self.find(key, w, now_ms)? else {
                return if claim {
                    Err(LedgerError::Full)
                } else {
                    Ok(None)
                };
            };
            let (write, result) = f(&mut slot.counts);
            if !write {
                return Ok(Some(result));
            }
            let n = self.writes.get().wrapping_add(1);
            self.writes.set(n);
            let tag = self.nonce | u64::from(n);
            let mut value = owner.to_vec();
            value.extend_from_slice(&slot.counts.encode(tag));
            match self.store.set(&slot.key, &value, slot.cas) {
                Ok(()) if slot.cas.is_some() => return Ok(Some(result)),
                Ok(()) => {
                    // Creating a key cannot be conditional in proxy-wasm: two workers may both
                    // create it. Read back; if another write replaced ours, redo ours on top of it.
                    let (now, _) = self
                        .store
                        .get(&slot.key)
                        .map_err(|_| LedgerError::Unavailable)?;
                    let now = now.unwrap_or_default();
                    if Counts::decode(now.get(OWNER..).unwrap_or_default()).0 == tag {
                        return Ok(Some(result));
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
        self.update(key, w, now_ms, true, |counts| {
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
                used: used.saturating_add(amount),
                wait_ms: Some(0),
                reset_ms: counts
                    .wait_ms(w, now_ms, limit.max(1), limit.max(1))
                    .unwrap_or(0),
            };
            (true, r)
        })?
        .ok_or(LedgerError::Full)
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
        // A bucket whose slot was taken over left the window: the charge no longer counts.
        self.update(key, w, now_ms, false, |counts| {
            counts.add(w, now_ms, at_ms, delta);
            (true, ())
        })
        .map(|_| ())
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

    /// The store key of the home slot of `key` and the owner prefix of its values.
    fn home(key: &str) -> (String, Vec<u8>) {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(key.as_bytes());
        let h = u64::from_le_bytes(d[16..24].try_into().unwrap_or_default()) % DEFAULT_CAPACITY;
        let (ns, _) = key.split_once('\u{1f}').unwrap_or((key, ""));
        (format!("{ns}#{h}"), d[..16].to_vec())
    }

    fn value(owner: &[u8], c: &Counts, tag: u64) -> Vec<u8> {
        let mut v = owner.to_vec();
        v.extend(c.encode(tag));
        v
    }

    fn counts_at(s: &MemStore, slot: &str) -> Counts {
        s.map
            .borrow()
            .get(slot)
            .map(|(v, _)| Counts::decode(&v[16..]).1)
            .unwrap_or_default()
    }

    #[test]
    fn a_concurrent_write_is_not_lost() {
        let l = SharedLedger::new(MemStore::default(), 1);
        let _ = l.reserve("k", &W, 1000, 10, 100);
        // Another worker writes between our read and our write: our CAS fails and we retry on top.
        *l.store.interleave.borrow_mut() = Some(Box::new(|s: &MemStore| {
            let (slot, owner) = home("k");
            let mut c = counts_at(s, &slot);
            c.add(&W, 1000, 1000, 30);
            s.foreign_write(&slot, value(&owner, &c, 7));
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
        *l.store.after_set.borrow_mut() = Some(Box::new(|s: &MemStore| {
            let (slot, owner) = home("k");
            let mut c = Counts::default();
            c.add(&W, 1000, 1000, 30);
            s.foreign_write(&slot, value(&owner, &c, 7));
        }));
        let r = l
            .reserve("k", &W, 1000, 20, 100)
            .unwrap_or_else(|_| unreachable!());
        assert!(r.admitted);
        assert_eq!(counts_at(&l.store, &home("k").0).used(&W, 1000), 50);
    }

    #[test]
    fn keys_of_any_number_live_in_a_bounded_table_and_keep_exact_budgets() {
        const SMALL: Window = Window {
            slot_ms: 100,
            slots: 10,
        };
        let l = SharedLedger::with_capacity(MemStore::default(), 1, 128);
        // 40 live buckets in a 128-slot table: each keeps its own exact budget.
        for i in 0..40 {
            let k = format!("ns\u{1f}client-{i}-{}", "x".repeat(i * 100));
            let r = l.reserve(&k, &SMALL, 1000, 60, 100);
            assert!(r.map(|r| r.admitted).unwrap_or(false), "{i}: {r:?}");
        }
        for i in 0..40 {
            let k = format!("ns\u{1f}client-{i}-{}", "x".repeat(i * 100));
            let r = l
                .reserve(&k, &SMALL, 1000, 50, 100)
                .unwrap_or_else(|e| unreachable!("{e:?}"));
            assert!(!r.admitted && r.used == 60, "{i}: {r:?}");
        }
        // The table is full while they are live...
        let full = (100..200)
            .filter(|i| {
                l.reserve(&format!("ns\u{1f}late-{i}"), &SMALL, 1000, 1, 100)
                    == Err(LedgerError::Full)
            })
            .count();
        assert!(full > 0, "a 128-slot table took 140 live buckets");
        // ...and once the window has passed, new buckets reuse the slots: the store never grows
        // beyond the table, however many distinct keys come.
        for round in 0..20u64 {
            let now = 10_000 + round * 2_000;
            for i in 0..30 {
                let k = format!("ns\u{1f}round-{round}-{i}");
                let r = l.reserve(&k, &SMALL, now, 10, 100);
                assert!(
                    r.map(|r| r.admitted).unwrap_or(false),
                    "round {round} key {i}: {r:?}"
                );
            }
        }
        assert!(l.store.map.borrow().len() <= 128);
        // A refund for a bucket whose slot was taken over changes nothing.
        assert_eq!(
            l.adjust("ns\u{1f}client-3-", &SMALL, 60_000, 1000, -60),
            Ok(())
        );
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
