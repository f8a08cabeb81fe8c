//! Sliding-window token counts, split into slots.
//!
//! A window of `W` ms is cut into `N` slots of `W/N` ms. The usage "now" is the sum of the current
//! slot and the `N` before it, so a token keeps counting for at least `W` and at most `W + W/N` ms
//! after it was charged. Hence the window itself never over-admits: in any sliding interval of `W`
//! ms the tokens admitted at admission time never exceed the limit; it is at most `W/N` stricter
//! (≈1.7% with the default 60 slots). What can go over is only what is unknown at admission: the
//! completions of requests already admitted (bounded by one request's worth each in flight).

/// Shape of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Length of one slot, ms.
    pub slot_ms: u64,
    /// Number of slots.
    pub slots: u64,
}

impl Window {
    /// A window of `seconds`, cut into `slots` slots (at least one ms each).
    pub fn new(seconds: u64, slots: u64) -> Self {
        let slots = slots.clamp(1, 3600);
        Self {
            slot_ms: (seconds * 1000 / slots).max(1),
            slots,
        }
    }

    /// Window length in ms.
    pub fn len_ms(&self) -> u64 {
        self.slot_ms * self.slots
    }

    fn slot_of(&self, t_ms: u64) -> u64 {
        t_ms / self.slot_ms
    }

    fn oldest_live_slot(&self, now_ms: u64) -> u64 {
        self.slot_of(now_ms).saturating_sub(self.slots)
    }
}

/// Counts per slot: `(slot index, tokens)`, oldest first, only non-empty live slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    slots: Vec<(u64, u64)>,
}

impl Counts {
    /// True when no tokens are counted (after [`Counts::prune`]: none in the window).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops slots that left the window.
    pub fn prune(&mut self, w: &Window, now_ms: u64) {
        let oldest = w.oldest_live_slot(now_ms);
        self.slots.retain(|(s, c)| *s >= oldest && *c > 0);
    }

    /// Tokens counted in the window ending at `now_ms`.
    pub fn used(&self, w: &Window, now_ms: u64) -> u64 {
        let oldest = w.oldest_live_slot(now_ms);
        self.slots
            .iter()
            .filter(|(s, _)| *s >= oldest)
            .fold(0u64, |a, (_, c)| a.saturating_add(*c))
    }

    /// Adds (or, with a negative delta, removes) tokens in the slot containing `at_ms`.
    ///
    /// A refund for a slot that already left the window is dropped; a refund never takes a slot
    /// below zero (the excess is taken from later slots, newest last).
    pub fn add(&mut self, w: &Window, now_ms: u64, at_ms: u64, delta: i64) {
        self.prune(w, now_ms);
        let slot = w.slot_of(at_ms.min(now_ms));
        if slot < w.oldest_live_slot(now_ms) {
            if delta <= 0 {
                return;
            }
            // A late positive charge for an expired slot lands in the current one.
            return self.add(w, now_ms, now_ms, delta);
        }
        if delta >= 0 {
            match self.slots.iter_mut().find(|(s, _)| *s == slot) {
                Some(e) => e.1 = e.1.saturating_add(delta as u64),
                None => {
                    self.slots.push((slot, delta as u64));
                    self.slots.sort_unstable();
                }
            }
            return;
        }
        let mut refund = delta.unsigned_abs();
        for e in self.slots.iter_mut().filter(|(s, _)| *s >= slot) {
            let take = refund.min(e.1);
            e.1 -= take;
            refund -= take;
            if refund == 0 {
                break;
            }
        }
        self.slots.retain(|(_, c)| *c > 0);
    }

    /// Milliseconds from `now_ms` until `amount` more tokens fit under `limit`; `None` if they never
    /// can (the amount alone exceeds the limit).
    pub fn wait_ms(&self, w: &Window, now_ms: u64, amount: u64, limit: u64) -> Option<u64> {
        if amount > limit {
            return None;
        }
        let mut used = self.used(w, now_ms);
        if used.saturating_add(amount) <= limit {
            return Some(0);
        }
        let oldest = w.oldest_live_slot(now_ms);
        for (s, c) in self.slots.iter().filter(|(s, _)| *s >= oldest) {
            used = used.saturating_sub(*c);
            if used.saturating_add(amount) <= limit {
                // slot `s` stops counting when slot `s + slots + 1` begins
                let end = s.saturating_add(w.slots + 1).saturating_mul(w.slot_ms);
                return Some(end.saturating_sub(now_ms));
            }
        }
        Some(w.len_ms())
    }

    /// Compact encoding: `tag u64 | n u32 | n × (slot u64, count u64)`, little-endian.
    pub fn encode(&self, tag: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.slots.len() * 16);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&(self.slots.len() as u32).to_le_bytes());
        for (s, c) in &self.slots {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
        out
    }

    /// Decodes [`Counts::encode`]; garbage decodes to empty counts (never panics).
    pub fn decode(bytes: &[u8]) -> (u64, Counts) {
        let u64_at = |i: usize| {
            bytes
                .get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let tag = u64_at(0).unwrap_or(0);
        let n = bytes
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes) as usize;
        let mut slots = Vec::with_capacity(n.min(4096));
        for i in 0..n.min(4096) {
            match (u64_at(12 + i * 16), u64_at(20 + i * 16)) {
                (Some(s), Some(c)) => slots.push((s, c)),
                _ => return (tag, Counts::default()),
            }
        }
        (tag, Counts { slots })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        slot_ms: 1000,
        slots: 60,
    };

    #[test]
    fn tokens_expire_after_the_window() {
        let mut c = Counts::default();
        c.add(&W, 10_500, 10_500, 100);
        c.add(&W, 30_000, 30_000, 50);
        assert_eq!(c.used(&W, 30_000), 150);
        assert_eq!(c.used(&W, 70_999), 150);
        // slot 10 (10.0–11.0 s) leaves when slot 71 begins: never before a full window has passed
        assert_eq!(c.used(&W, 71_000), 50);
        assert_eq!(c.used(&W, 91_000), 0);
    }

    #[test]
    fn wait_until_it_fits() {
        let mut c = Counts::default();
        c.add(&W, 10_000, 10_000, 80);
        c.add(&W, 20_000, 20_000, 20);
        assert_eq!(c.wait_ms(&W, 25_000, 10, 100), Some(46_000)); // until 71 s
        assert_eq!(c.wait_ms(&W, 25_000, 0, 100), Some(0));
        assert_eq!(c.wait_ms(&W, 25_000, 101, 100), None);
        assert_eq!(c.wait_ms(&W, 25_000, 90, 100), Some(56_000)); // both slots must go
    }

    #[test]
    fn refunds_never_go_negative() {
        let mut c = Counts::default();
        c.add(&W, 1_000, 1_000, 30);
        c.add(&W, 2_000, 2_000, 10);
        c.add(&W, 2_000, 1_000, -35);
        assert_eq!(c.used(&W, 2_000), 5);
        c.add(&W, 2_000, 1_000, -100);
        assert_eq!(c.used(&W, 2_000), 0);
    }

    #[test]
    fn encoding_round_trips_and_survives_garbage() {
        let mut c = Counts::default();
        c.add(&W, 5_000, 5_000, 7);
        c.add(&W, 9_000, 9_000, 9);
        let (tag, d) = Counts::decode(&c.encode(42));
        assert_eq!((tag, d), (42, c));
        assert_eq!(Counts::decode(b"\x01\x02").1, Counts::default());
        assert_eq!(Counts::decode(&[0xff; 40]).1, Counts::default());
    }
}
