//! What a stateful stage (an aggregator) keeps so that the instance replacing a failed one
//! has its state: the state as last saved and the inputs folded into it since. The new
//! instance loads the one and folds the others again, so a fault costs the poison records,
//! not the analytics. Saving every call would cost a whole snapshot per batch; keeping the
//! inputs costs a copy of them, bounded in calls and bytes.

/// Calls between two saves at most, and value bytes kept for them: 64 batches of large
/// records (100 × 900 KB each) would be 6 GB.
const SAVE_EVERY_CALLS: usize = 64;
const SAVE_EVERY_BYTES: usize = 32 << 20;

pub(super) struct Recovery<I> {
    saved: Option<Vec<u8>>,
    folded: Vec<Vec<I>>,
    folded_bytes: usize,
    /// Times the state could not be saved or put back: losses, reported.
    lost: u64,
}

impl<I> Recovery<I> {
    pub fn new() -> Recovery<I> {
        Recovery { saved: None, folded: Vec::new(), folded_bytes: 0, lost: 0 }
    }

    /// Whether to save before the next call: nothing saved yet, or enough kept since.
    pub fn save_due(&self) -> bool {
        self.saved.is_none()
            || self.folded.len() >= SAVE_EVERY_CALLS
            || self.folded_bytes >= SAVE_EVERY_BYTES
    }

    /// The state was saved (or replaced from outside): it is the one to load from now on.
    pub fn saved(&mut self, state: Option<Vec<u8>>) {
        self.saved = state;
        self.forget_folded();
    }

    /// A call folded `inputs` (`bytes` of values) into the live instance's state.
    pub fn folded(&mut self, inputs: Vec<I>, bytes: usize) {
        self.folded_bytes += bytes;
        self.folded.push(inputs);
    }

    /// The state was lost; the next save starts from what the instance has.
    pub fn lost(&mut self) {
        self.lost += 1;
        self.saved = None;
        self.forget_folded();
    }

    pub fn state(&self) -> Option<&[u8]> {
        self.saved.as_deref()
    }

    /// The inputs folded since the last save, call by call.
    pub fn since_save(&self) -> &[Vec<I>] {
        &self.folded
    }

    pub fn kept_bytes(&self) -> usize {
        self.folded_bytes
    }

    /// Losses since the last call of this.
    pub fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }

    fn forget_folded(&mut self) {
        self.folded.clear();
        self.folded_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_save_is_due_first_then_after_enough_calls_or_bytes() {
        let mut recovery = Recovery::<u8>::new();
        assert!(recovery.save_due(), "nothing saved yet");
        recovery.saved(Some(vec![1]));
        assert!(!recovery.save_due());
        for _ in 0..SAVE_EVERY_CALLS - 1 {
            recovery.folded(vec![0], 1);
        }
        assert!(!recovery.save_due());
        recovery.folded(vec![0], 1);
        assert!(recovery.save_due(), "calls bound the inputs kept");
        recovery.saved(Some(vec![2]));
        assert_eq!(
            (recovery.since_save().len(), recovery.kept_bytes()),
            (0, 0),
            "a save forgets them"
        );
        recovery.folded(vec![0], SAVE_EVERY_BYTES);
        assert!(recovery.save_due(), "bytes bound them too");
    }

    #[test]
    fn a_loss_is_counted_once_and_forgets_everything() {
        let mut recovery = Recovery::<u8>::new();
        recovery.saved(Some(vec![1]));
        recovery.folded(vec![7], 1);
        recovery.lost();
        assert_eq!((recovery.state(), recovery.since_save().len()), (None, 0));
        assert_eq!(recovery.take_lost(), 1);
        assert_eq!(recovery.take_lost(), 0);
    }
}
