//! Where an exported plugin lives between calls: set by `init`, used by every batch.

use std::cell::RefCell;

/// One plugin value per instance. A component is single-threaded, so the export
/// macros keep a `Slot` in a `thread_local!`.
pub struct Slot<T>(RefCell<Option<T>>);

impl<T> Slot<T> {
    pub const fn new() -> Slot<T> {
        Slot(RefCell::new(None))
    }

    /// `init`: build the plugin from its config, or say why not.
    pub fn init(&self, make: impl FnOnce() -> Result<T, crate::Error>) -> Result<(), String> {
        let value = make().map_err(String::from)?;
        *self.0.borrow_mut() = Some(value);
        Ok(())
    }

    /// A batch call. The host always calls `init` first; a call without it traps.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut slot = self.0.borrow_mut();
        f(slot.as_mut().expect("weir-plugin: the host calls init before any batch"))
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot::new()
    }
}
